//! `/api/formations/{id}` and `POST /api/formations`: one training session, read, created,
//! updated, deleted (the list is in [`super::lists`]).

use crate::error::ApiError;
use crate::extract::{Id, Tenant, input};
use crate::model::SessionInput;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

session_handlers!(
    get_formation,
    create_formation,
    update_formation,
    delete_formation
);
