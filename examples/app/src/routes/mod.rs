//! The HTTP API, one file per resource: handlers validate (with [`crate::extract`]), call
//! the repository and shape responses; caching is entirely in the repository's attributes.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

pub(crate) use self::auth::unknown_account_hash;
pub use self::operations::{CacheMode, CacheReport, PrefixReport};

macro_rules! list_handlers {
    ($($handler:ident),* $(,)?) => {
        $(pub(super) async fn $handler(
            State(state): State<AppState>,
            Tenant(tenant): Tenant,
            query: Result<Query<ListQuery>, QueryRejection>,
        ) -> Result<Response, ApiError> {
            let filters = filters(query)?;
            Ok(Json(state.repo.$handler(&tenant, &filters).await?).into_response())
        })*
    };
}

/// The four handlers of one session table (fmpa, formations).
macro_rules! session_handlers {
    ($get:ident, $create:ident, $update:ident, $delete:ident) => {
        pub(super) async fn $get(
            State(state): State<AppState>,
            Tenant(tenant): Tenant,
            Id(id): Id,
        ) -> Result<Response, ApiError> {
            let found = state.repo.$get(&tenant, id).await?;
            Ok(Json(found.ok_or_else(ApiError::not_found)?).into_response())
        }

        pub(super) async fn $create(
            State(state): State<AppState>,
            Tenant(tenant): Tenant,
            body: Result<Json<SessionInput>, JsonRejection>,
        ) -> Result<Response, ApiError> {
            let input = input(body)?;
            let created = state.repo.$create(&tenant, &input).await?;
            Ok((StatusCode::CREATED, Json(created)).into_response())
        }

        pub(super) async fn $update(
            State(state): State<AppState>,
            Tenant(tenant): Tenant,
            Id(id): Id,
            body: Result<Json<SessionInput>, JsonRejection>,
        ) -> Result<Response, ApiError> {
            let input = input(body)?;
            let updated = state.repo.$update(&tenant, id, &input).await?;
            Ok(Json(updated.ok_or_else(ApiError::not_found)?).into_response())
        }

        pub(super) async fn $delete(
            State(state): State<AppState>,
            Tenant(tenant): Tenant,
            Id(id): Id,
        ) -> Result<Response, ApiError> {
            if state.repo.$delete(&tenant, id).await?.is_some() {
                Ok(StatusCode::NO_CONTENT.into_response())
            } else {
                Err(ApiError::not_found())
            }
        }
    };
}

mod auth;
mod dashboard;
mod fmpa;
mod formations;
mod lists;
mod operations;
mod users;

/// The API's routes. Every route but the login needs a bearer token; the operations
/// routes (`/metrics`, `/api/cache/stats`, `/api/admin/cache`) need the platform's OPERATOR role.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/fmpa", get(lists::list_fmpa).post(fmpa::create_fmpa))
        .route(
            "/api/fmpa/{id}",
            get(fmpa::get_fmpa)
                .put(fmpa::update_fmpa)
                .delete(fmpa::delete_fmpa),
        )
        .route(
            "/api/formations",
            get(lists::list_formations).post(formations::create_formation),
        )
        .route(
            "/api/formations/{id}",
            get(formations::get_formation)
                .put(formations::update_formation)
                .delete(formations::delete_formation),
        )
        .route("/api/personnel/files", get(lists::list_personnel_files))
        .route("/api/conversations", get(lists::list_conversations))
        .route("/api/notifications", get(lists::list_notifications))
        .route("/api/tta/entries", get(lists::list_tta_entries))
        .route("/api/chat/channels", get(lists::list_chat_channels))
        .route("/api/users/{id}/profile", get(users::profile))
        .route("/api/dashboard/stats", get(dashboard::dashboard))
        .route("/api/cache/stats", get(operations::cache_stats))
        .route(
            "/api/admin/cache",
            get(operations::cache_mode).put(operations::set_cache_mode),
        )
        .route("/metrics", get(operations::metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .with_state(state)
}

/// A JSON answer, or an error as JSON.
type ApiResult<T> = Result<Json<T>, ApiError>;
