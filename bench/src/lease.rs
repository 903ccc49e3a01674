//! Section 18, `--only lease`: a cold key across a fleet. 4 caches (each its own `Cache`,
//! as 4 processes would have, on one Redis) × 250 callers miss the same key at once, its
//! loader taking 100 ms: loads and latency with and without the stampede lease; then a
//! lease holder that dies mid-load (its future never finishes nor is dropped, as a killed
//! process's): how long the others take to answer.

use crate::measure::summarize;
use crate::workload::*;
use cache_core::{Cache, cached};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static LOADS: AtomicU64 = AtomicU64::new(0);
const LOAD: Duration = Duration::from_millis(100);
const CALLERS: usize = 250;

/// The loader: 100 ms of "database" (`hang`: a holder that dies mid-load).
async fn load(hang: bool) -> Result<Row, BenchError> {
    LOADS.fetch_add(1, Ordering::Relaxed);
    if hang {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(LOAD).await;
    Ok(row(1))
}

#[cached(prefix = "bench-lease", name = "plain", ttl = "10m", key = tenant, cache = cache)]
async fn plain(cache: &Cache, tenant: &str) -> Result<Row, BenchError> {
    let _ = (cache, tenant);
    load(false).await
}

#[cached(prefix = "bench-lease", name = "leased", ttl = "10m", lease = "5s", key = tenant, cache = cache)]
async fn leased(cache: &Cache, tenant: &str, hang: bool) -> Result<Row, BenchError> {
    let _ = (cache, tenant);
    load(hang).await
}

#[cached(prefix = "bench-lease", name = "short", ttl = "10m", lease = "1s", key = tenant, cache = cache)]
async fn short(cache: &Cache, tenant: &str, hang: bool) -> Result<Row, BenchError> {
    let _ = (cache, tenant);
    load(hang).await
}

/// 4 × 250 callers on the cold key `tenant`: the loads it took, the median and slowest
/// answer.
async fn cold(caches: &[Cache], which: &'static str, tenant: String) -> (u64, Duration, Duration) {
    let before = LOADS.load(Ordering::Relaxed);
    let start = Arc::new(tokio::sync::Barrier::new(caches.len() * CALLERS));
    let mut tasks = tokio::task::JoinSet::new();
    for cache in caches {
        for _ in 0..CALLERS {
            let (cache, start, tenant) = (cache.clone(), start.clone(), tenant.clone());
            tasks.spawn(async move {
                start.wait().await;
                let started = Instant::now();
                let got = match which {
                    "plain" => plain(&cache, &tenant).await,
                    "short" => short(&cache, &tenant, false).await,
                    _ => leased(&cache, &tenant, false).await,
                };
                got.expect("the loader never fails");
                started.elapsed()
            });
        }
    }
    let mut took = Vec::new();
    while let Some(one) = tasks.join_next().await {
        took.push(one.expect("a caller"));
    }
    let summary = summarize(&mut took);
    let slowest = took.iter().copied().max().unwrap_or_default();
    (
        LOADS.load(Ordering::Relaxed) - before,
        summary.median,
        slowest,
    )
}

pub(crate) async fn lease(quick: bool) {
    let keys = if quick { 3 } else { 10 };
    println!(
        "## 18. A cold key across a fleet: 4 caches × {CALLERS} callers, loader 100 ms, {keys} cold keys each\n"
    );
    let namespace = format!("bench-lease-{}", std::process::id());
    let mut caches = Vec::new();
    for _ in 0..4 {
        let cache = Cache::builder()
            .redis_url(redis_url())
            .namespace(&namespace)
            .build()
            .await
            .expect("cache");
        caches.push(cache);
    }
    println!("| variant | loads per cold key (min-max) | p50 ms | slowest ms |");
    println!("|---|---|---|---|");
    for which in ["plain", "leased"] {
        let (mut fewest, mut most, mut p50, mut slowest) =
            (u64::MAX, 0, Vec::new(), Duration::ZERO);
        for key in 0..keys {
            let (loads, median, max) = cold(&caches, which, format!("{which}-{key}")).await;
            (fewest, most) = (fewest.min(loads), most.max(loads));
            p50.push(median);
            slowest = slowest.max(max);
        }
        let p50 = summarize(&mut p50).median;
        let name = match which {
            "plain" => "no lease (single-flight per process)",
            _ => "lease = \"5s\"",
        };
        println!(
            "| {name} | {fewest}-{most} | {:.1} | {:.1} |",
            p50.as_secs_f64() * 1e3,
            slowest.as_secs_f64() * 1e3
        );
    }
    // A holder that dies: the first cache takes the lease and never finishes its load.
    let before = LOADS.load(Ordering::Relaxed);
    let mut dying = Box::pin(short(&caches[0], "dead", true));
    tokio::select! {
        _ = &mut dying => unreachable!("the load never ends"),
        // Until it holds the lease (its load has begun).
        _ = async {
            while LOADS.load(Ordering::Relaxed) == before {
                tokio::task::yield_now().await;
            }
        } => {}
    }
    let since = Instant::now();
    let (loads, _, slowest) = cold(&caches[1..], "short", "dead".to_owned()).await;
    std::mem::forget(dying);
    println!(
        "| lease = \"1s\", its holder dead mid-load (3 caches × {CALLERS} waiting) | {loads} | | {:.1} (bound: lease 1000 + load 100) |",
        slowest.max(since.elapsed()).as_secs_f64() * 1e3
    );
    println!(
        "\n(4 caches in one process stand for 4 processes: each has its own single-flight and its own\nsubscription. Without the lease, each process loads once; with it, one process loads and the\nothers wait for its notice.)\n"
    );
    caches[0].delete_pattern("*").await;
}
