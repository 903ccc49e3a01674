//! What the handlers share.

use crate::credentials::Tokens;
use crate::repo::Repo;
use metrics_exporter_prometheus::PrometheusHandle;

/// What the handlers share: the repository (and through it the cache), the metrics
/// recorder, the tokens' signer.
#[derive(Clone)]
pub struct AppState {
    pub repo: Repo,
    pub metrics: PrometheusHandle,
    pub tokens: Tokens,
}
