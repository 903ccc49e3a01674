//! The Grafana dashboard (`docs/grafana/cache-dashboard.json`) is valid and reads what the
//! library exports: every `cache_*` series its queries name is in a real Prometheus
//! render of a cache's metrics (the app's recorder type), after hits, misses, loads,
//! an invalidation and a consistency check; its panels cover what an operator asks.

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::collections::BTreeSet;
use std::time::Duration;

static SITE: Site = Site::new("fmpa", "list", Duration::from_secs(60), 0);

/// What a Prometheus recorder renders after a cache did a bit of everything.
fn rendered() -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let cache = cache_core::Cache::builder()
                .memory()
                .build()
                .await
                .expect("memory cache");
            for _ in 0..3 {
                let mut parts = KeyParts::new();
                parts.scope("tenant-1");
                __private::cached(
                    ResultMode::<Result<u32, String>>::new(),
                    &SITE,
                    Some(cache.clone()),
                    parts,
                    __private::ReadOptions::new(),
                    async { Ok(1) },
                )
                .await
                .expect("read");
            }
            cache.invalidate("fmpa", "tenant-1").await;
        })
    });
    handle.render()
}

/// The metric names in a PromQL expression.
fn names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("cache_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        out.insert(name);
    }
    out
}

#[test]
fn the_dashboard_queries_only_what_the_library_exports() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana/cache-dashboard.json"
    );
    let text = std::fs::read_to_string(path).expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
    let render = rendered();
    // Every series the library declares (TYPE lines), and their names as queried.
    let exported: BTreeSet<String> = render
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(exported.contains("cache_hits_total"), "{render}");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut queried = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("a title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("an id")),
            "{title}: id reused"
        );
        assert!(
            panel["gridPos"]["w"].as_u64().is_some(),
            "{title}: no position"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            let expr = target["expr"].as_str().expect("a PromQL expression");
            let parens = expr.matches('(').count() == expr.matches(')').count();
            let braces = expr.matches('{').count() == expr.matches('}').count();
            assert!(parens && braces, "{title}: unbalanced {expr}");
            for name in names(expr) {
                assert!(
                    exported.contains(&name),
                    "{title}: {name} is not exported by the library:\n{render}"
                );
                queried.insert(name);
            }
        }
    }
    // What the issue asks the dashboard to show.
    for needed in [
        "cache_hits_total",
        "cache_misses_total",
        "cache_load_seconds",
        "cache_invalidations_total",
        "cache_local_hits_total",
        "cache_stale_served_total",
        "cache_inconsistencies_total",
        "cache_consistency_checks_total",
    ] {
        assert!(queried.contains(needed), "no panel shows {needed}");
    }
}
