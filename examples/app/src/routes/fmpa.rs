//! `/api/fmpa/{id}` and `POST /api/fmpa`: one FMPA session, read, created, updated,
//! deleted (the list is in [`super::lists`]).

use crate::error::ApiError;
use crate::extract::{Id, Tenant, input};
use crate::model::SessionInput;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

session_handlers!(get_fmpa, create_fmpa, update_fmpa, delete_fmpa);
