//! The app's Prometheus recorder, behind `GET /metrics`: the library's `cache_*` counters
//! and histograms (its `metrics` feature), labelled by prefix and cached function.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// The process's Prometheus recorder (the `metrics` facade has one per process), kept
/// bounded by [`upkeep`] whether or not anyone scrapes `/metrics`.
pub(crate) fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = upkeep(recorder.handle(), UPKEEP_EVERY);
            // Another recorder may be installed already (embedding programs, tests):
            // then /metrics shows what this one saw.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// How often the recorder's upkeep runs.
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the recorder's upkeep every `every`, on a thread of its own, for as long as the
/// process lives. A recorder built with `build_recorder()` keeps every histogram sample
/// (`cache_load_seconds`) until something drains them: a scrape's render, or this upkeep.
/// Without it, an app nobody scrapes grows by eight bytes per sample.
pub fn upkeep(handle: PrometheusHandle, every: std::time::Duration) -> PrometheusHandle {
    let kept = handle.clone();
    std::thread::Builder::new()
        .name("prometheus-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every); // the upkeep's period, not a synchronisation
                kept.run_upkeep();
            }
        })
        .expect("spawn the metrics upkeep thread");
    handle
}
