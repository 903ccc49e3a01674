//! `GET /api/dashboard/stats`: the tenant's dashboard.

use crate::error::ApiError;
use crate::extract::Tenant;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// The tenant's counts by status and recent activity.
pub(super) async fn dashboard(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<Response, ApiError> {
    Ok(Json(state.repo.dashboard(&tenant).await?).into_response())
}
