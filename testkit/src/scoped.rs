//! The shared Redis of the test run, and a cache per test under a namespace of its own
//! that is cleaned up even when the test fails.

use crate::Target;
use cache_core::Cache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The Redis the test run uses: `REDIS_URL`, else the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A namespace no other test (or test run) uses.
pub fn unique_namespace(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "test-{test}-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A cache on the shared Redis under a namespace of its own, whose keys are deleted when
/// it is dropped (also when the test panics).
pub struct ScopedCache {
    /// The cache under test.
    pub cache: Cache,
    target: Target,
}

impl std::ops::Deref for ScopedCache {
    type Target = Cache;
    fn deref(&self) -> &Cache {
        &self.cache
    }
}

/// The builder tests use on one server at `url` (see [`Target::builder`]).
pub fn test_builder(url: &str, namespace: &str) -> cache_core::CacheBuilder {
    Target::Single(url.to_owned()).builder(namespace)
}

/// A cache on the Redis this run targets ([`Target::from_env`]: one server, a cluster or
/// TLS), in a fresh namespace.
pub async fn redis_cache(test: &str) -> ScopedCache {
    redis_cache_with(test, |builder| builder).await
}

/// [`redis_cache`] with more settings (`configure` gets the test builder).
pub async fn redis_cache_with(
    test: &str,
    configure: impl FnOnce(cache_core::CacheBuilder) -> cache_core::CacheBuilder,
) -> ScopedCache {
    let target = Target::from_env();
    let namespace = unique_namespace(test);
    let cache = configure(target.builder(&namespace))
        .build()
        .await
        .unwrap_or_else(|e| panic!("the tests need {target} (see scripts/test.sh): {e}"));
    assert_eq!(
        cache.is_cluster(),
        matches!(target, Target::Cluster(_)),
        "the cache runs on {target}"
    );
    ScopedCache { cache, target }
}

impl Drop for ScopedCache {
    fn drop(&mut self) {
        let builder = self
            .target
            .connect()
            .namespace(self.cache.namespace())
            .op_timeout(Duration::from_secs(5));
        // Drop cannot await: clean up on a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(cache) = builder.build().await {
                    let _ = cache.try_delete_pattern("*").await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Waits (polling, with a deadline of 10 s) until every pending invalidation of `cache`
/// has landed.
pub async fn until_no_pending(cache: &Cache) {
    let started = std::time::Instant::now();
    while cache.pending_invalidations() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the retries never landed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // pacing while polling
    }
}
