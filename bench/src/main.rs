//! The benchmark harness. `cargo run --release -p bench` (add `-- --quick` for a run under
//! a minute). Needs a Redis at `REDIS_URL` (default 127.0.0.1:6379); writes only keys under
//! `bench` namespaces and deletes them at the end. Prints markdown tables. One file per
//! section; `-- --only hits` (or `tags`, `through`, `l1`, `sealed`, `fleet`, `storm`,
//! `lease`, `operations`, `batch`, `coalesce`, `memory`) runs sections 1-2 (or 10-14,
//! 17-22) alone,
//! `-- --profile-hits <s>` a steady load of hits for a profiler, `-- --sizes` the size of
//! a hit's future.

mod batch;
mod cluster;
mod coalesce;
mod down;
mod fleet;
mod hits;
mod invalidation;
mod lease;
mod local;
mod measure;
mod memory;
mod memory_hits;
mod misses;
mod operations;
mod profile;
mod sealed;
mod stampede;
mod storm;
mod tags;
mod through;
mod workload;

/// One allocator for every variant (the baseline, ours and the peer alike): mimalloc by
/// default, glibc's malloc with `--no-default-features`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ALLOCATOR: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "the system's (glibc malloc)"
};

use cache_core::Cache;
use redis::aio::ConnectionManager;
use std::time::Duration;
use workload::*;

/// Sizes of one run.
pub(crate) struct Plan {
    pub rounds: usize,
    pub blocks: usize,
    pub window: Duration,
    pub miss_rounds: usize,
    pub invalidation_sizes: &'static [usize],
    pub others: usize,
    pub down_calls: usize,
}

const FULL: Plan = Plan {
    rounds: 20_000,
    blocks: 10,
    window: Duration::from_millis(500),
    miss_rounds: 5_000,
    invalidation_sizes: &[10, 1_000, 100_000],
    others: 100_000,
    down_calls: 1_000_000,
};

const QUICK: Plan = Plan {
    rounds: 3_000,
    blocks: 4,
    window: Duration::from_millis(250),
    miss_rounds: 1_000,
    invalidation_sizes: &[10, 1_000, 10_000],
    others: 10_000,
    down_calls: 200_000,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--sizes") {
        profile::sizes();
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = if quick { &QUICK } else { &FULL };
    let client = redis::Client::open(redis_url()).expect("REDIS_URL parses");
    let conn = ConnectionManager::new(client)
        .await
        .expect("Redis answers at REDIS_URL");
    let cache = Cache::builder()
        .redis_url(redis_url())
        .namespace("bench")
        .build()
        .await
        .expect("cache");
    cache_core::install(cache.clone());
    let packed = Cache::builder()
        .redis_url(redis_url())
        .namespace("bench")
        .codec(cache_core::Codec::MessagePack)
        .build()
        .await
        .expect("cache");
    let _ = PACKED.set(packed);
    if let Some(seconds) = std::env::args()
        .skip_while(|a| a != "--profile-hits")
        .nth(1)
    {
        profile::hits(&conn, seconds.parse().unwrap_or(10)).await;
        return;
    }
    println!(
        "# cache-core benchmarks{}\n",
        if quick { " (--quick)" } else { "" }
    );
    println!(
        "Redis at {}, allocator: {ALLOCATOR} for every variant.\n",
        redis_url()
    );

    // `--only hits` (sections 1-2, to compare two builds of the hit path) or `--only tags`
    // (section 10): one section alone.
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    match only.as_deref() {
        Some("hits") => hits::hits(&conn, plan).await,
        Some("tags") => tags::tags(&conn, &cache, plan).await,
        Some("through") => through::through(&cache, plan).await,
        Some("l1") => local::local(&conn, plan).await,
        Some("sealed") => sealed::sealed(plan).await,
        Some("fleet") => fleet::fleet(&conn, &cache, plan).await,
        Some("storm") => storm::storm(quick).await,
        Some("lease") => lease::lease(quick).await,
        Some("operations") => operations::operations(plan).await,
        Some("batch") => batch::batch(&conn, plan).await,
        Some("coalesce") => coalesce::coalesce(&conn, plan).await,
        Some("memory") => memory_hits::memory_hits(plan).await,
        _ => {}
    }
    if only.is_some() {
        cache.delete_pattern("*").await;
        return;
    }
    hits::hits(&conn, plan).await;
    misses::misses(&conn, plan).await;
    invalidation::invalidation(&conn, &cache, plan).await;
    stampede::stampede(&conn).await;
    memory::memory(&conn, &cache).await;
    cluster::hits(&conn, plan.rounds, plan.window, plan.blocks).await;
    cluster::slot_spread();
    tags::tags(&conn, &cache, plan).await;
    through::through(&cache, plan).await;
    local::local(&conn, plan).await;
    sealed::sealed(plan).await;
    fleet::fleet(&conn, &cache, plan).await;
    storm::storm(quick).await;
    lease::lease(quick).await;
    operations::operations(plan).await;
    batch::batch(&conn, plan).await;
    coalesce::coalesce(&conn, plan).await;
    memory_hits::memory_hits(plan).await;
    down::redis_down(plan).await;

    // Clean up what this run wrote.
    cache.delete_pattern("*").await;
    let raw = Cache::builder()
        .redis_url(redis_url())
        .build()
        .await
        .expect("cache");
    for pattern in ["bench-raw:*", "cached-redis-store:bench_peer_*"] {
        raw.delete_pattern(pattern).await;
    }
}
