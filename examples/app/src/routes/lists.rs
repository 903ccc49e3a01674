//! The tenant's lists, filtered by the query string: FMPA and training sessions,
//! personnel files, conversations, notifications, TTA entries, chat channels.

use crate::error::ApiError;
use crate::extract::{Tenant, filters};
use crate::model::ListQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

list_handlers!(
    list_fmpa,
    list_formations,
    list_personnel_files,
    list_conversations,
    list_notifications,
    list_tta_entries,
    list_chat_channels,
);
