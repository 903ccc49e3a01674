//! §22: hits on the in-process memory backend (a program run with no setup, and the
//! peer application's "memory" trials): back to back and under 64 tasks, a plain site, a
//! site with 2 declared tags, a site with a tag read from its result, and the plain site
//! again with a `tracing` subscriber installed at `info` (as an application has one).

use crate::Plan;
use crate::measure::{Call, call, sequential, throughput};
use crate::workload::*;
use cache_core::{Cache, cached};
use std::sync::OnceLock;

static MEMORY: OnceLock<Cache> = OnceLock::new();

#[cached(prefix = "mem", ttl = "10m", key = tenant, cache = MEMORY.get())]
async fn plain(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "mem", ttl = "10m", key = tenant, tag(a = tenant, b = tenant), cache = MEMORY.get())]
async fn tagged(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "mem", ttl = "10m", key = tenant, tag(item = |row: &Row| Some(row.id)), cache = MEMORY.get())]
async fn indexed(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

pub(crate) async fn memory_hits(plan: &Plan) {
    println!("## 22. Hits on the memory backend\n");
    let cache = Cache::builder()
        .memory()
        .build()
        .await
        .expect("memory cache");
    let _ = MEMORY.set(cache);
    for warm in [plain("t1").await, tagged("t1").await, indexed("t1").await] {
        warm.expect("warm");
    }
    // A memory hit never waits: each call gives the runtime its turn when the task's
    // budget is spent (as a real task does at its next socket or timer), else 64 tasks
    // would hold both workers and the measuring timer would never fire.
    let variants: Vec<Call> = vec![
        call(|| async {
            drop(plain("t1").await.expect("hit"));
            tokio::task::consume_budget().await;
        }),
        call(|| async {
            drop(tagged("t1").await.expect("hit"));
            tokio::task::consume_budget().await;
        }),
        call(|| async {
            drop(indexed("t1").await.expect("hit"));
            tokio::task::consume_budget().await;
        }),
    ];
    let names = ["plain", "2 declared tags", "a tag read from its result"];
    let seq = sequential(&variants, plan.rounds * 5).await;
    let tput = throughput(&variants, 64, plan.window, plan.blocks).await;
    println!("| site (small value) | back to back p50 µs | p99 µs | 64 tasks: calls/s | / plain |");
    println!("|---|---|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} | {:.2} |",
            seq[i].median.as_secs_f64() * 1e6,
            seq[i].p99.as_secs_f64() * 1e6,
            tput[i],
            tput[i] / tput[0]
        );
    }
    // The same hits with a subscriber at `info` (the global one, as an application
    // installs it; it stays for the rest of the run, writing nowhere): the hit's `debug`
    // events filtered.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        let with = sequential(&variants, plan.rounds * 5).await;
        for (i, name) in names.iter().enumerate() {
            println!(
                "| {name}, a `tracing` subscriber at `info` | {:.2} | {:.2} | | |",
                with[i].median.as_secs_f64() * 1e6,
                with[i].p99.as_secs_f64() * 1e6,
            );
        }
    }
    println!();
}
