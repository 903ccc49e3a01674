//! Helpers shared by the runtime tests: a fake "database" that counts its loads, and a
//! way to run one test body on both backends.

#![allow(dead_code)]

use cache_core::__private::{self, KeyParts, Site};
use cache_core::Cache;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A source of truth per tenant, counting how often it is read.
#[derive(Default, Clone)]
pub struct Source {
    values: Arc<Mutex<std::collections::HashMap<String, String>>>,
    pub loads: Arc<AtomicUsize>,
}

impl Source {
    pub fn put(&self, tenant: &str, value: &str) {
        self.values
            .lock()
            .unwrap()
            .insert(tenant.to_owned(), value.to_owned());
    }

    pub fn read(&self, tenant: &str) -> String {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.values
            .lock()
            .unwrap()
            .get(tenant)
            .cloned()
            .unwrap_or_default()
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

pub fn parts(tenant: &str, page: u32) -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope(tenant).arg(&page);
    parts
}

pub static LIST: Site = Site::new("fmpa", "list", Duration::from_secs(60), 0);
pub static OTHER_LIST: Site = Site::new("fmpa", "other", Duration::from_secs(60), 0);

/// A cached read of `tenant`'s value through the attribute runtime.
pub async fn read(cache: &Cache, source: &Source, tenant: &str) -> Result<String, String> {
    read_at(&LIST, cache, source, tenant).await
}

pub async fn read_at(
    site: &'static Site,
    cache: &Cache,
    source: &Source,
    tenant: &str,
) -> Result<String, String> {
    __private::cached(
        __private::ResultMode::<Result<String, String>>::new(),
        site,
        Some(cache.clone()),
        parts(tenant, 1),
        __private::ReadOptions::new(),
        async { Ok(source.read(tenant)) },
    )
    .await
}

/// A memory cache for the same-semantics runs.
pub async fn memory_cache() -> Cache {
    Cache::builder()
        .memory()
        .namespace("mem")
        .build()
        .await
        .expect("memory cache")
}

/// Runs an `async fn(Cache)` test on Redis (its own namespace) and on the memory store.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let scoped = testkit::redis_cache(stringify!($name)).await;
                super::$name(scoped.cache.clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$name($crate::common::memory_cache().await).await;
            }
        })*
    };
}

/// Reads until one is a hit: a real signal with a deadline, not a sleep.
pub async fn until_hit(cache: &Cache, source: &Source, tenant: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let hits = cache.stats().prefix("fmpa").hits;
        assert_eq!(
            read(cache, source, tenant).await,
            Ok(source_value(source, tenant))
        );
        if cache.stats().prefix("fmpa").hits > hits {
            return;
        }
        assert!(
            started.elapsed() < within,
            "the cache did not recover within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // pacing between attempts
    }
}

/// What `source` holds for `tenant`, without counting it as a load.
pub fn source_value(source: &Source, tenant: &str) -> String {
    let before = source.loads();
    let value = source.read(tenant);
    source
        .loads
        .store(before, std::sync::atomic::Ordering::SeqCst);
    value
}
pub mod staleness;
