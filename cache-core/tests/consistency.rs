//! The consistency checker, on the Redis this run targets: a sampled hit also runs the
//! function and, when the values differ and no invalidation follows within the window,
//! reports a stale value; an invalidation within the window, or an equal value, is a
//! consistent sample. The caller always gets the cached value.

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::{Cache, PrefixStats};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use testkit::ScopedCache;

static READ: Site = Site::new("checked", "read", Duration::from_secs(60), 0);
const WINDOW: Duration = Duration::from_millis(200);

async fn checking(scoped: &ScopedCache, rate: f64) -> Cache {
    testkit::Target::from_env()
        .builder(scoped.namespace())
        .check_consistency(rate)
        .consistency_window(WINDOW)
        .build()
        .await
        .expect("cache")
}

/// Reads `tenant`'s value, which the "database" `db` holds; `RUNS` counts the body's runs.
async fn read(cache: &Cache, db: &AtomicU32, tenant: &str) -> u32 {
    read_counted(cache, db, tenant, &AtomicU32::new(0)).await
}

async fn read_counted(cache: &Cache, db: &AtomicU32, tenant: &str, runs: &AtomicU32) -> u32 {
    let mut parts = KeyParts::new();
    parts.scope(tenant);
    __private::cached(
        ResultMode::<Result<u32, String>>::new(),
        &READ,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(db.load(Ordering::SeqCst))
        },
    )
    .await
    .expect("the read")
}

fn site(cache: &Cache) -> PrefixStats {
    cache.stats().site("checked", "read")
}

/// Waits (polling, 5 s deadline) until `checks` verdicts were given.
async fn verdicts(cache: &Cache, checks: u64) -> PrefixStats {
    let started = Instant::now();
    loop {
        let stats = site(cache);
        if stats.consistency_checks >= checks {
            return stats;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no verdict: {stats:?}"
        );
        tokio::time::sleep(WINDOW / 4).await; // pacing while polling
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_without_invalidation_is_reported_and_the_cached_value_still_served() {
    let scoped = testkit::redis_cache("consistency_stale").await;
    let cache = checking(&scoped, 1.0).await;
    let db = AtomicU32::new(1);
    assert_eq!(read(&cache, &db, "t1").await, 1); // miss: filled
    db.store(2, Ordering::SeqCst); // a write that forgets to invalidate
    assert_eq!(
        read(&cache, &db, "t1").await,
        1,
        "the caller gets the cached value"
    );
    let stats = verdicts(&cache, 1).await;
    assert_eq!((stats.consistency_checks, stats.inconsistencies), (1, 1));
    assert_eq!(stats.consistency_nines(), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_within_the_window_and_an_equal_value_are_consistent() {
    let scoped = testkit::redis_cache("consistency_fine").await;
    let cache = checking(&scoped, 1.0).await;
    let db = AtomicU32::new(1);
    read(&cache, &db, "t1").await;
    read(&cache, &db, "t1").await; // a hit, the same value: a verdict at once
    assert_eq!(site(&cache).consistency_checks, 1);
    db.store(2, Ordering::SeqCst);
    assert_eq!(read(&cache, &db, "t1").await, 1); // the write's invalidation is late...
    cache.invalidate("checked", "t1").await; // ...but lands within the window
    let stats = verdicts(&cache, 2).await;
    assert_eq!((stats.consistency_checks, stats.inconsistencies), (2, 0));
    assert_eq!(read(&cache, &db, "t1").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_and_sampled_at_its_rate() {
    let scoped = testkit::redis_cache("consistency_rate").await;
    let off = checking(&scoped, 0.0).await;
    let db = AtomicU32::new(1);
    for _ in 0..20 {
        read(&off, &db, "t1").await;
    }
    let stats = site(&off);
    assert_eq!(
        (stats.loads, stats.consistency_checks),
        (1, 0),
        "no hit ran the body"
    );
    // At a quarter of the hits, a stale value is reported within 60 hits (the chance of
    // no sample in 60 is 0.75^60, 3e-8).
    let sampled = checking(&scoped, 0.25).await;
    db.store(2, Ordering::SeqCst);
    let runs = AtomicU32::new(0);
    let mut hits = 0;
    while runs.load(Ordering::SeqCst) == 0 && hits < 60 {
        assert_eq!(read_counted(&sampled, &db, "t1", &runs).await, 1);
        hits += 1;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "no hit of 60 was sampled");
    assert_eq!(site(&sampled).loads, 0, "a check's run is not a load");
    let stats = verdicts(&sampled, 1).await;
    assert!(stats.inconsistencies >= 1, "{stats:?}");
}
