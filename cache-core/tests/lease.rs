//! The distributed stampede lease, on a real Redis, with several caches on one namespace
//! standing for the processes of a fleet: a cold key is loaded once across them all; a
//! holder that dies costs the others its lease time, then they load; a miss after an
//! invalidation never waits for a load that began before it.

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static LEASED: Site =
    Site::new("lease", "cold", Duration::from_secs(60), 0).with_lease(Duration::from_secs(5));
static SHORT: Site =
    Site::new("lease", "short", Duration::from_secs(60), 0).with_lease(Duration::from_millis(1500));
static PLAIN: Site = Site::new("lease", "plain", Duration::from_secs(60), 0);

/// Four caches on one fresh namespace (the first one cleans it up).
async fn fleet(test: &str) -> (testkit::ScopedCache, Vec<Cache>) {
    let first = testkit::redis_cache(test).await;
    let mut caches = vec![first.cache.clone()];
    for _ in 1..4 {
        let namespace = first.cache.namespace().to_owned();
        let other = testkit::redis_cache_with(test, |builder| builder.namespace(namespace)).await;
        caches.push(other.cache.clone());
        std::mem::forget(other); // its keys are the first one's
    }
    (first, caches)
}

fn parts() -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope("acme");
    parts
}

/// A read of `site` whose load counts itself, takes `load` and answers `value`.
async fn read(
    site: &'static Site,
    cache: &Cache,
    loads: &AtomicUsize,
    load: Duration,
    value: &str,
) -> Result<String, String> {
    __private::cached(
        ResultMode::<Result<String, String>>::new(),
        site,
        Some(cache.clone()),
        parts(),
        __private::ReadOptions::new(),
        async {
            loads.fetch_add(1, Ordering::SeqCst);
            // The database's time (not synchronisation).
            tokio::time::sleep(load).await;
            Ok(value.to_owned())
        },
    )
    .await
}

/// 4 caches × 50 callers at once on a cold key: the loads it took.
async fn cold_key(site: &'static Site, caches: &[Cache]) -> usize {
    let loads = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(caches.len() * 50));
    let mut tasks = tokio::task::JoinSet::new();
    for cache in caches {
        for _ in 0..50 {
            let (cache, loads, start) = (cache.clone(), loads.clone(), start.clone());
            tasks.spawn(async move {
                start.wait().await;
                read(site, &cache, &loads, Duration::from_millis(300), "v").await
            });
        }
    }
    while let Some(answer) = tasks.join_next().await {
        assert_eq!(answer.expect("a caller panicked"), Ok("v".to_owned()));
    }
    loads.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_key_is_loaded_once_across_the_fleet() {
    let (_scoped, caches) = fleet("lease_cold").await;
    // Without the lease, each process loads (its own single-flight in front).
    assert_eq!(cold_key(&PLAIN, &caches).await, caches.len());
    let since = Instant::now();
    assert_eq!(cold_key(&LEASED, &caches).await, 1);
    // Woken by the holder's notice, not by the end of its 5 s lease.
    let took = since.elapsed();
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    let coalesced: u64 = caches
        .iter()
        .map(|cache| cache.stats().site("lease", "cold").coalesced)
        .sum();
    assert_eq!(coalesced, 199, "every other caller shared the one load");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_costs_the_others_its_lease_time() {
    let (_scoped, caches) = fleet("lease_dead").await;
    // The first cache takes the lease and dies mid-load: its future is never dropped,
    // so it never hands the lease back.
    let (started, begun) = tokio::sync::oneshot::channel::<()>();
    let mut dying = Box::pin(__private::cached(
        ResultMode::<Result<String, String>>::new(),
        &SHORT,
        Some(caches[0].clone()),
        parts(),
        __private::ReadOptions::new(),
        async move {
            let _ = started.send(());
            std::future::pending::<Result<String, String>>().await
        },
    ));
    tokio::select! {
        _ = &mut dying => unreachable!("the load never ends"),
        _ = begun => {}
    }
    std::mem::forget(dying);
    let since = Instant::now();
    let loads = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for cache in &caches[1..] {
        let (cache, loads) = (cache.clone(), loads.clone());
        tasks.spawn(
            async move { read(&SHORT, &cache, &loads, Duration::from_millis(100), "v").await },
        );
    }
    while let Some(answer) = tasks.join_next().await {
        assert_eq!(answer.expect("a caller panicked"), Ok("v".to_owned()));
    }
    let took = since.elapsed();
    // They waited for the lease (not loading at once), and not much past it.
    assert!(loads.load(Ordering::SeqCst) >= 1);
    assert!(
        took >= Duration::from_millis(1000),
        "answered after {took:?}"
    );
    assert!(
        took < Duration::from_millis(1500 + 100 + 1500),
        "answered after {took:?}: more than the lease time and one load"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_after_an_invalidation_does_not_wait_for_an_older_load() {
    let (scoped, caches) = fleet("lease_invalidated").await;
    // The first cache loads v1 and is held in its load.
    let (started, begun) = tokio::sync::oneshot::channel::<()>();
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    let old = tokio::spawn({
        let cache = caches[0].clone();
        async move {
            __private::cached(
                ResultMode::<Result<String, String>>::new(),
                &LEASED,
                Some(cache),
                parts(),
                __private::ReadOptions::new(),
                async move {
                    let _ = started.send(());
                    let _ = finished.await;
                    Ok::<_, String>("v1".to_owned())
                },
            )
            .await
        }
    });
    begun.await.expect("the first load began");
    scoped.invalidate("lease", "acme").await;
    let since = Instant::now();
    let loads = AtomicUsize::new(0);
    let fresh = read(&LEASED, &caches[1], &loads, Duration::ZERO, "v2").await;
    assert_eq!(fresh, Ok("v2".to_owned()));
    assert!(
        since.elapsed() < Duration::from_millis(2500),
        "the miss after the invalidation waited for the older load's lease"
    );
    let _ = finish.send(());
    assert_eq!(old.await.expect("the old load"), Ok("v1".to_owned()));
    // The old load's value is dead (stored under the generations before the
    // invalidation): never served.
    let loads = AtomicUsize::new(0);
    let again = read(&LEASED, &caches[2], &loads, Duration::ZERO, "v3").await;
    assert_ne!(again, Ok("v1".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_has_no_lease_and_loads_as_usual() {
    let cache = Cache::builder().memory().build().await.unwrap();
    let loads = AtomicUsize::new(0);
    let answer = read(&LEASED, &cache, &loads, Duration::ZERO, "v").await;
    assert_eq!(answer, Ok("v".to_owned()));
    assert_eq!(
        read(&LEASED, &cache, &loads, Duration::ZERO, "w").await,
        Ok("v".to_owned())
    );
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}
