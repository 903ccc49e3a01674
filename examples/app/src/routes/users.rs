//! `GET /api/users/{id}/profile`: a user of the caller's tenant.

use crate::error::ApiError;
use crate::extract::{Id, Tenant};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// A user of the caller's tenant.
pub(super) async fn profile(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let found = state.repo.profile(&tenant, id).await?;
    Ok(Json(found.ok_or_else(ApiError::not_found)?).into_response())
}
