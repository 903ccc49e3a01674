//! `Cache::from_env` never fails. Its own test binary: it sets `REDIS_URL`, which no
//! other test may see.

mod common;

use cache_core::Cache;
use common::{Source, read};
use std::time::{Duration, Instant};
use testkit::RedisServer;

fn set_redis_url(url: &str) {
    // SAFETY: this binary holds only this test, so no other thread reads the
    // environment while it changes.
    unsafe { std::env::set_var("REDIS_URL", url) };
}

#[tokio::test(flavor = "current_thread")]
async fn from_env_starts_whatever_the_environment() {
    // A malformed URL: the in-process store, and a working cache.
    set_redis_url("redis//not-a-url");
    let cache = Cache::from_env().await;
    assert!(
        !cache.is_redis(),
        "a malformed REDIS_URL falls back to memory"
    );
    let source = Source::default();
    source.put("acme", "v");
    read(&cache, &source, "acme").await.unwrap();
    read(&cache, &source, "acme").await.unwrap();
    assert_eq!(source.loads(), 1, "the memory fallback caches");

    // Redis not up yet: starts at once, serves from the source, caches once Redis is up.
    let mut server = RedisServer::start();
    server.kill();
    set_redis_url(&server.url());
    let started = Instant::now();
    let cache = Cache::from_env().await;
    assert!(cache.is_redis());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "from_env does not wait for Redis"
    );
    let source = Source::default();
    source.put("acme", "v");
    assert_eq!(read(&cache, &source, "acme").await, Ok("v".into()));
    server.start_again();
    let started = Instant::now();
    loop {
        let hits = cache.stats().prefix("fmpa").hits;
        assert_eq!(read(&cache, &source, "acme").await, Ok("v".into()));
        if cache.stats().prefix("fmpa").hits > hits {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never began caching"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // pacing between attempts
    }
}
