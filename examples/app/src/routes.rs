//! The HTTP API. Handlers validate, call the repository and shape responses; caching is
//! entirely in the repository's attributes.

use crate::auth::Tokens;
use crate::caller::{Caller, Operator, Tenant};
use crate::error::ApiError;
use crate::login::{login, logout};
use crate::model::{Filters, ListQuery, SessionInput};
use crate::repo::Repo;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub repo: Repo,
    pub metrics: PrometheusHandle,
    pub tokens: Tokens,
}

/// The API's routes. Every route but the login needs a bearer token; the operations
/// routes (`/metrics`, `/api/cache/stats`, `/api/admin/cache`) need the platform's OPERATOR role.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/fmpa", get(list_fmpa).post(create_fmpa))
        .route(
            "/api/fmpa/{id}",
            get(get_fmpa).put(update_fmpa).delete(delete_fmpa),
        )
        .route(
            "/api/formations",
            get(list_formations).post(create_formation),
        )
        .route(
            "/api/formations/{id}",
            get(get_formation)
                .put(update_formation)
                .delete(delete_formation),
        )
        .route("/api/personnel/files", get(list_personnel_files))
        .route("/api/conversations", get(list_conversations))
        .route("/api/notifications", get(list_notifications))
        .route("/api/tta/entries", get(list_tta_entries))
        .route("/api/chat/channels", get(list_chat_channels))
        .route("/api/users/{id}/profile", get(profile))
        .route("/api/dashboard/stats", get(dashboard))
        .route("/api/cache/stats", get(cache_stats))
        .route("/api/admin/cache", get(cache_mode).put(set_cache_mode))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .with_state(state)
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// A row id from the path, rejected as a JSON 400 when it is not a number.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<i64>::from_request_parts(parts, state).await?;
        Ok(Id(id))
    }
}

fn filters(query: Result<Query<ListQuery>, QueryRejection>) -> Result<Filters, ApiError> {
    let Query(query) = query?;
    Filters::try_from(query).map_err(ApiError::bad_request)
}

fn input(body: Result<Json<SessionInput>, JsonRejection>) -> Result<SessionInput, ApiError> {
    let Json(input) = body?;
    match input.problem() {
        Some(problem) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, problem)),
        None => Ok(input),
    }
}

macro_rules! list_handlers {
    ($($handler:ident),* $(,)?) => {
        $(async fn $handler(
            State(state): State<AppState>,
            Tenant(tenant): Tenant,
            query: Result<Query<ListQuery>, QueryRejection>,
        ) -> Result<Response, ApiError> {
            let filters = filters(query)?;
            Ok(Json(state.repo.$handler(&tenant, &filters).await?).into_response())
        })*
    };
}

list_handlers!(
    list_fmpa,
    list_formations,
    list_personnel_files,
    list_conversations,
    list_notifications,
    list_tta_entries,
    list_chat_channels,
);

/// The four handlers of one session table (fmpa, formations).
macro_rules! session_handlers {
    ($get:ident, $create:ident, $update:ident, $delete:ident) => {
        async fn $get(
            State(state): State<AppState>,
            Tenant(tenant): Tenant,
            Id(id): Id,
        ) -> Result<Response, ApiError> {
            let found = state.repo.$get(&tenant, id).await?;
            Ok(Json(found.ok_or_else(ApiError::not_found)?).into_response())
        }

        async fn $create(
            State(state): State<AppState>,
            Tenant(tenant): Tenant,
            body: Result<Json<SessionInput>, JsonRejection>,
        ) -> Result<Response, ApiError> {
            let input = input(body)?;
            let created = state.repo.$create(&tenant, &input).await?;
            Ok((StatusCode::CREATED, Json(created)).into_response())
        }

        async fn $update(
            State(state): State<AppState>,
            Tenant(tenant): Tenant,
            Id(id): Id,
            body: Result<Json<SessionInput>, JsonRejection>,
        ) -> Result<Response, ApiError> {
            let input = input(body)?;
            let updated = state.repo.$update(&tenant, id, &input).await?;
            Ok(Json(updated.ok_or_else(ApiError::not_found)?).into_response())
        }

        async fn $delete(
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

session_handlers!(get_fmpa, create_fmpa, update_fmpa, delete_fmpa);
session_handlers!(
    get_formation,
    create_formation,
    update_formation,
    delete_formation
);

/// A user of the caller's tenant.
async fn profile(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let found = state.repo.profile(&tenant, id).await?;
    Ok(Json(found.ok_or_else(ApiError::not_found)?).into_response())
}

/// The caller's own profile.
async fn me(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let found = state.repo.profile(&caller.tenant, caller.user_id).await?;
    Ok(Json(found.ok_or_else(ApiError::not_found)?).into_response())
}

async fn dashboard(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<Response, ApiError> {
    Ok(Json(state.repo.dashboard(&tenant).await?).into_response())
}

/// Hit rate per prefix, as the seed's monitoring asks, and per cached function
/// (`"<prefix>/<name>"`: `fmpa/list`, `fmpa/item`).
#[derive(Debug, Serialize, Deserialize)]
pub struct CacheReport {
    pub backend: String,
    pub reads_cached: bool,
    pub total: PrefixReport,
    pub prefixes: BTreeMap<String, PrefixReport>,
    #[serde(default)]
    pub sites: BTreeMap<String, PrefixReport>,
}

/// The counters of one prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrefixReport {
    pub hits: u64,
    pub misses: u64,
    pub hit_rate: f64,
    pub loads: u64,
    pub mean_load_ms: f64,
    pub coalesced: u64,
    pub errors: u64,
    pub invalidations: u64,
}

impl From<cache_core::PrefixStats> for PrefixReport {
    fn from(stats: cache_core::PrefixStats) -> PrefixReport {
        PrefixReport {
            hits: stats.hits,
            misses: stats.misses,
            hit_rate: stats.hit_rate(),
            loads: stats.loads,
            mean_load_ms: if stats.loads == 0 {
                0.0
            } else {
                stats.load_time.as_secs_f64() * 1000.0 / stats.loads as f64
            },
            coalesced: stats.coalesced,
            errors: stats.errors + stats.decode_errors,
            invalidations: stats.invalidations,
        }
    }
}

async fn cache_stats(State(state): State<AppState>, _: Operator) -> ApiResult<CacheReport> {
    let cache = state.repo.cache();
    let stats = cache.stats();
    Ok(Json(CacheReport {
        backend: if cache.is_redis() { "redis" } else { "memory" }.to_owned(),
        reads_cached: state.repo.cache_reads(),
        total: stats.total.into(),
        prefixes: stats
            .prefixes
            .into_iter()
            .map(|(prefix, stats)| (prefix, stats.into()))
            .collect(),
        sites: stats
            .sites
            .into_iter()
            .flat_map(|(prefix, names)| {
                names
                    .into_iter()
                    .map(move |(name, stats)| (format!("{prefix}/{name}"), stats.into()))
            })
            .collect(),
    }))
}

/// Demo control for the load generator's baseline: `{"reads_cached": false}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CacheMode {
    pub reads_cached: bool,
}

async fn cache_mode(State(state): State<AppState>, _: Operator) -> ApiResult<CacheMode> {
    Ok(Json(CacheMode {
        reads_cached: state.repo.cache_reads(),
    }))
}

async fn set_cache_mode(
    State(state): State<AppState>,
    _: Operator,
    body: Result<Json<CacheMode>, JsonRejection>,
) -> ApiResult<CacheMode> {
    let Json(mode) = body?;
    state.repo.set_cache_reads(mode.reads_cached);
    Ok(Json(mode))
}

async fn metrics(State(state): State<AppState>, _: Operator) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
