//! Handles into the `metrics` facade, registered once per prefix and per site: the
//! names the Prometheus exporter shows (`cache_hits_total{prefix, name}`, ...).

#[derive(Debug)]
pub struct Handles {
    pub hits: metrics::Counter,
    pub misses: metrics::Counter,
    pub loads: metrics::Counter,
    pub load_seconds: metrics::Histogram,
    pub coalesced: metrics::Counter,
    pub bypasses: metrics::Counter,
    pub errors: metrics::Counter,
    pub decode_errors: metrics::Counter,
    pub invalidations: metrics::Counter,
    pub refused: metrics::Counter,
    pub written_through: metrics::Counter,
    pub local_hits: metrics::Counter,
    pub stale_served: metrics::Counter,
    pub refreshes: metrics::Counter,
    pub consistency_checks: metrics::Counter,
    pub inconsistencies: metrics::Counter,
}

impl Handles {
    /// Labelled `prefix`, and `name` for a call site.
    pub fn new(prefix: &str, site: Option<&str>) -> Self {
        let mut labels = vec![metrics::Label::new("prefix", prefix.to_owned())];
        if let Some(site) = site {
            labels.push(metrics::Label::new("name", site.to_owned()));
        }
        let counter = |name: &'static str| metrics::counter!(name, labels.iter());
        Self {
            hits: counter("cache_hits_total"),
            misses: counter("cache_misses_total"),
            loads: counter("cache_loads_total"),
            load_seconds: metrics::histogram!("cache_load_seconds", labels.iter()),
            coalesced: counter("cache_coalesced_total"),
            bypasses: counter("cache_bypasses_total"),
            errors: counter("cache_errors_total"),
            decode_errors: counter("cache_decode_errors_total"),
            invalidations: counter("cache_invalidations_total"),
            refused: counter("cache_refused_total"),
            written_through: counter("cache_written_through_total"),
            local_hits: counter("cache_local_hits_total"),
            stale_served: counter("cache_stale_served_total"),
            refreshes: counter("cache_refreshes_total"),
            consistency_checks: counter("cache_consistency_checks_total"),
            inconsistencies: counter("cache_inconsistencies_total"),
        }
    }
}
