//! The attributes stay exact: a cancelled `#[invalidates]` leaves every prefix invalidated
//! or pending, and the mode of a return type comes from the type, not from its name.

use cache_core::{Cache, cached, invalidates};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use testkit::{RedisServer, test_builder, unique_namespace, until_no_pending};

/// Versions per (prefix, tenant): the source of truth.
#[derive(Default)]
struct Store(Mutex<HashMap<(&'static str, String), u64>>);

impl Store {
    fn get(&self, prefix: &'static str, tenant: &str) -> u64 {
        let versions = self.0.lock().unwrap();
        versions
            .get(&(prefix, tenant.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    fn bump(&self, tenant: &str) {
        let mut versions = self.0.lock().unwrap();
        for prefix in ["fmpa", "stats"] {
            *versions.entry((prefix, tenant.to_owned())).or_default() += 1;
        }
    }
}

#[cached(prefix = "fmpa", ttl = "1m", key = tenant, cache = cache)]
async fn read_fmpa(cache: &Cache, store: &Store, tenant: &str) -> Result<u64, String> {
    Ok(store.get("fmpa", tenant))
}

#[cached(prefix = "stats", ttl = "1m", key = tenant, cache = cache)]
async fn read_stats(cache: &Cache, store: &Store, tenant: &str) -> Result<u64, String> {
    Ok(store.get("stats", tenant))
}

#[invalidates("fmpa", "stats", key = tenant, cache = cache)]
async fn write(cache: &Cache, store: &Store, tenant: &str) -> Result<(), String> {
    store.bump(tenant);
    Ok(())
}

/// The caller drops the write's future after its body committed (a tower timeout, a
/// client that went away), while Redis is frozen: both prefixes are pending in the
/// writer, which serves them from the source, and once Redis is back both invalidations
/// reach every process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_invalidation_leaves_every_prefix_invalidated_or_pending() {
    let server = RedisServer::start();
    let namespace = unique_namespace("exact-cancel");
    let build = || {
        test_builder(&server.url(), &namespace)
            .op_timeout(Duration::from_millis(100))
            .build()
    };
    let (writer, reader) = (
        build().await.expect("writer"),
        build().await.expect("reader"),
    );
    let store = Store::default();
    for cache in [&writer, &reader] {
        assert_eq!(read_fmpa(cache, &store, "acme").await, Ok(0));
        assert_eq!(read_stats(cache, &store, "acme").await, Ok(0));
    }

    server.freeze();
    let cancelled =
        tokio::time::timeout(Duration::from_millis(150), write(&writer, &store, "acme")).await;
    assert!(cancelled.is_err(), "the caller gave up: {cancelled:?}");
    assert_eq!(store.get("stats", "acme"), 1, "the body committed");
    assert_eq!(
        writer.pending_invalidations(),
        2,
        "both prefixes are pending"
    );
    // The writer serves both from the source meanwhile (Redis frozen: bounded misses).
    assert_eq!(read_fmpa(&writer, &store, "acme").await, Ok(1));
    assert_eq!(read_stats(&writer, &store, "acme").await, Ok(1));

    server.thaw();
    until_no_pending(&writer).await;
    for cache in [&reader, &writer, &reader] {
        assert_eq!(read_fmpa(cache, &store, "acme").await, Ok(1));
        assert_eq!(read_stats(cache, &store, "acme").await, Ok(1));
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError(String);

/// An alias whose name says nothing, over a serde error: still a `Result`.
type Fallible<T> = Result<T, ApiError>;
type Maybe<T> = Option<T>;

#[cached(prefix = "alias", ttl = "1m", cache = cache)]
async fn fallible(cache: &Cache, calls: &AtomicUsize, fail: bool) -> Fallible<u32> {
    calls.fetch_add(1, Ordering::SeqCst);
    match fail {
        true => Err(ApiError("down".into())),
        false => Ok(7),
    }
}

#[cached(prefix = "alias", ttl = "1m", cache = cache)]
async fn maybe(cache: &Cache, calls: &AtomicUsize) -> Maybe<u32> {
    calls.fetch_add(1, Ordering::SeqCst);
    None
}

#[invalidates("alias", cache = cache)]
async fn failing_write(cache: &Cache) -> Fallible<()> {
    Err(ApiError("rejected".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_are_told_by_their_type() {
    let scoped = testkit::redis_cache("exact-alias").await;
    let cache = &scoped.cache;
    let calls = AtomicUsize::new(0);
    for _ in 0..3 {
        let failed = fallible(cache, &calls, true).await;
        assert_eq!(failed, Err(ApiError("down".into())));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3, "an Err is never cached");

    let none = AtomicUsize::new(0);
    for _ in 0..3 {
        assert_eq!(maybe(cache, &none).await, None);
    }
    assert_eq!(
        none.load(Ordering::SeqCst),
        3,
        "None is not cached without cache_none"
    );

    // The key of `fallible` holds no argument: the Ok path fills the same entry.
    let ok = AtomicUsize::new(0);
    assert_eq!(fallible(cache, &ok, false).await, Ok(7));
    assert_eq!(fallible(cache, &ok, true).await, Ok(7), "a hit");
    assert_eq!(ok.load(Ordering::SeqCst), 1);
    // A write whose alias'd Result is an Err invalidates nothing.
    assert!(failing_write(cache).await.is_err());
    assert_eq!(fallible(cache, &ok, true).await, Ok(7), "still a hit");
    assert_eq!(ok.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().prefix("alias").invalidations, 0);
}
