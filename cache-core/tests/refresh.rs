//! Early refresh, on a real Redis and on the memory store: a hit past its fraction of the
//! TTL reloads its entry (one caller, whatever the number of callers and caches), so a hot
//! key never misses on expiry; an invalidation during the reload wins; a failed reload
//! answers with the value it was to replace.

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::Cache;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Refreshed past half of its 2 s TTL (wide margins: a loaded machine stalls).
static HOT: Site = Site::new("refresh", "hot", Duration::from_secs(2), 0).with_refresh(0.5);

/// The same entries, read with a soft timeout (in a task of their own): a caller due
/// for the refresh is answered with the hit at once.
static HOT_SOFT: Site = Site::new("refresh", "hot", Duration::from_secs(2), 0)
    .with_refresh(0.5)
    .with_timeout(Duration::from_millis(100));

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let scoped = testkit::redis_cache(stringify!($name)).await;
                let other = testkit::redis_cache_with(stringify!($name), |builder| {
                    builder.namespace(scoped.cache.namespace())
                })
                .await;
                super::$name(scoped.cache.clone(), other.cache.clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                let cache = cache_core::Cache::builder().memory().build().await.unwrap();
                super::$name(cache.clone(), cache).await;
            }
        })*
    };
}

on_both!(
    a_hot_key_is_refreshed_before_it_expires,
    one_refresh_for_many_callers_and_caches,
    an_invalidation_during_the_refresh_wins,
    a_failed_refresh_answers_with_the_value_it_was_to_replace,
    with_a_soft_timeout_no_caller_waits_for_the_refresh,
);

fn parts() -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope("acme");
    parts
}

async fn read(
    cache: &Cache,
    loads: &AtomicUsize,
    answer: Result<&str, &str>,
) -> Result<String, String> {
    __private::cached(
        ResultMode::<Result<String, String>>::new(),
        &HOT,
        Some(cache.clone()),
        parts(),
        __private::ReadOptions::new(),
        async {
            loads.fetch_add(1, Ordering::SeqCst);
            answer.map(str::to_owned).map_err(str::to_owned)
        },
    )
    .await
}

/// Waits until `since` is `at` old (a real wait: the entry must age).
async fn at(since: Instant, at: Duration) {
    tokio::time::sleep(at.saturating_sub(since.elapsed())).await;
}

fn site(cache: &Cache) -> cache_core::PrefixStats {
    cache.stats().site("refresh", "hot")
}

async fn a_hot_key_is_refreshed_before_it_expires(cache: Cache, _: Cache) {
    let loads = AtomicUsize::new(0);
    let filled = Instant::now();
    assert_eq!(read(&cache, &loads, Ok("v1")).await, Ok("v1".into()));
    at(filled, Duration::from_millis(200)).await;
    assert_eq!(
        read(&cache, &loads, Ok("v2")).await,
        Ok("v1".into()),
        "a hit, not due"
    );
    at(filled, Duration::from_millis(1500)).await;
    // Past half its TTL: this caller reloads, and gets the new value.
    assert_eq!(read(&cache, &loads, Ok("v2")).await, Ok("v2".into()));
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    // Past the first value's expiry (and not yet due again): a hit of the refreshed
    // entry, never a miss.
    at(filled, Duration::from_millis(2200)).await;
    assert_eq!(read(&cache, &loads, Ok("v3")).await, Ok("v2".into()));
    let stats = site(&cache);
    assert_eq!((stats.misses, stats.refreshes, stats.loads), (1, 1, 2));
}

async fn one_refresh_for_many_callers_and_caches(cache: Cache, other: Cache) {
    let loads = AtomicUsize::new(0);
    let filled = Instant::now();
    read(&cache, &loads, Ok("v1")).await.unwrap();
    at(filled, Duration::from_millis(1500)).await;
    let reads = (0..16).map(|i| {
        let cache = if i % 2 == 0 { &cache } else { &other };
        read(cache, &loads, Ok("v2"))
    });
    for got in futures_join(reads).await {
        assert!(got == Ok("v1".into()) || got == Ok("v2".into()), "{got:?}");
    }
    assert_eq!(
        loads.load(Ordering::SeqCst),
        2,
        "one refresh for all of them"
    );
}

async fn an_invalidation_during_the_refresh_wins(cache: Cache, _: Cache) {
    let loads = AtomicUsize::new(0);
    let filled = Instant::now();
    read(&cache, &loads, Ok("v1")).await.unwrap();
    at(filled, Duration::from_millis(1500)).await;
    let refreshed = Box::pin(__private::cached(
        ResultMode::<Result<String, String>>::new(),
        &HOT,
        Some(cache.clone()),
        parts(),
        __private::ReadOptions::new(),
        async {
            // A write lands while the refresh loads what it read before.
            Box::pin(cache.invalidate("refresh", "acme")).await;
            Ok::<_, String>("v2, read before the write".to_owned())
        },
    ))
    .await;
    assert_eq!(refreshed, Ok("v2, read before the write".into()));
    // The refreshed value was stored under the generations the hit read: dead.
    assert_eq!(read(&cache, &loads, Ok("v3")).await, Ok("v3".into()));
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

async fn a_failed_refresh_answers_with_the_value_it_was_to_replace(cache: Cache, _: Cache) {
    let loads = AtomicUsize::new(0);
    let filled = Instant::now();
    read(&cache, &loads, Ok("v1")).await.unwrap();
    at(filled, Duration::from_millis(1500)).await;
    assert_eq!(read(&cache, &loads, Err("db down")).await, Ok("v1".into()));
    assert_eq!(
        read(&cache, &loads, Err("db down")).await,
        Ok("v1".into()),
        "a hit"
    );
    assert_eq!(
        loads.load(Ordering::SeqCst),
        2,
        "the claim keeps others from retrying"
    );
}

/// All of `reads`, concurrently, in this task.
async fn futures_join<F: std::future::Future>(reads: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures_util::future::join_all(reads.map(Box::pin)).await
}

async fn with_a_soft_timeout_no_caller_waits_for_the_refresh(cache: Cache, _: Cache) {
    let loads = AtomicUsize::new(0);
    let filled = Instant::now();
    read(&cache, &loads, Ok("v1")).await.unwrap();
    at(filled, Duration::from_millis(1500)).await;
    // The refresh's load waits for `release`: the caller that claimed it is answered
    // with the hit all the same.
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (begun, began) = tokio::sync::oneshot::channel::<()>();
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        __private::cached_in_task(
            ResultMode::<Result<String, String>>::new(),
            &HOT_SOFT,
            Some(cache.clone()),
            parts(),
            __private::ReadOptions::new(),
            async move {
                let _ = begun.send(());
                let _ = released.await;
                Ok("v2".to_owned())
            },
        ),
    )
    .await
    .expect("the caller waited for the refresh");
    assert_eq!(answer, Ok("v1".into()));
    // The refresh goes on after the caller was answered (its flight under way once its
    // load has begun), then stores before its flight ends.
    began.await.expect("the refresh began");
    assert_eq!(cache.loads_in_flight(), 1);
    release.send(()).expect("the refresh is waiting");
    for _ in 0..500 {
        if cache.loads_in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        read(&cache, &loads, Ok("v3")).await,
        Ok("v2".into()),
        "refreshed"
    );
    assert_eq!(site(&cache).refreshes, 1);
}
