//! The Prometheus recorder stays bounded under load when nobody scrapes `/metrics`: the
//! app runs its upkeep, which drains the histogram samples that would otherwise pile up
//! (eight bytes each) until a scrape.

use metrics_exporter_prometheus::PrometheusBuilder;
use std::time::Duration;

/// The resident set of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .expect("resident pages");
    pages * 4096
}

#[test]
fn the_recorder_stays_bounded_without_scrapes() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let _handle = fmpa_app::upkeep(recorder.handle(), Duration::from_millis(10));
    const SAMPLES: u64 = 8_000_000; // 64 MB if they were all kept
    let before = rss();
    metrics::with_local_recorder(&recorder, || {
        let histogram = metrics::histogram!("cache_load_seconds", "prefix" => "fmpa");
        for i in 0..SAMPLES {
            histogram.record((i % 1000) as f64 / 1e5);
        }
    });
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 24 << 20,
        "the recorder grew by {} MB over {SAMPLES} samples: its upkeep does not drain them",
        grown >> 20
    );
}
