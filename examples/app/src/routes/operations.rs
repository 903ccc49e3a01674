//! The operations routes, for the platform's operator only: `GET /api/cache/stats`, the
//! admin switch of cached reads (`GET`/`PUT /api/admin/cache`), and `GET /metrics`.

use super::ApiResult;
use crate::extract::Operator;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Reads answered with a value past its TTL while the database failed (fail-safe).
    #[serde(default)]
    pub stale_served: u64,
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
            stale_served: stats.stale_served,
        }
    }
}

pub(super) async fn cache_stats(
    State(state): State<AppState>,
    _: Operator,
) -> ApiResult<CacheReport> {
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

pub(super) async fn cache_mode(State(state): State<AppState>, _: Operator) -> ApiResult<CacheMode> {
    Ok(Json(CacheMode {
        reads_cached: state.repo.cache_reads(),
    }))
}

pub(super) async fn set_cache_mode(
    State(state): State<AppState>,
    _: Operator,
    body: Result<Json<CacheMode>, JsonRejection>,
) -> ApiResult<CacheMode> {
    let Json(mode) = body?;
    state.repo.set_cache_reads(mode.reads_cached);
    Ok(Json(mode))
}

pub(super) async fn metrics(State(state): State<AppState>, _: Operator) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
