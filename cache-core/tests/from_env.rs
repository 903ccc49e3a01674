//! `Cache::from_env` never fails. Its own test binary: it sets `REDIS_URL` and
//! `REDIS_CLUSTER_URLS`, which no other test may see.

mod common;

use cache_core::Cache;
use common::{Source, read, until_hit};
use std::time::{Duration, Instant};
use testkit::{RedisCluster, RedisServer};

fn set_var(name: &str, value: &str) {
    // SAFETY: this binary holds only this test, so no other thread reads the
    // environment while it changes.
    unsafe { std::env::set_var(name, value) };
}

fn set_redis_url(url: &str) {
    set_var("REDIS_URL", url);
}

#[tokio::test(flavor = "current_thread")]
async fn from_env_starts_whatever_the_environment() {
    // Whatever the caller's shell had: this test sets the variables it reads.
    // SAFETY: as in `set_var`.
    unsafe { std::env::remove_var("REDIS_CLUSTER_URLS") };
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
    until_hit(&cache, &source, "acme", Duration::from_secs(10)).await;

    // REDIS_CLUSTER_URLS: a cluster, which wins over REDIS_URL.
    let cluster = RedisCluster::start();
    set_var("REDIS_CLUSTER_URLS", &cluster.urls().join(","));
    let cache = Cache::from_env().await;
    assert!(cache.is_cluster(), "REDIS_CLUSTER_URLS gives a cluster");
    let source = Source::default();
    source.put("acme", "v");
    until_hit(&cache, &source, "acme", Duration::from_secs(10)).await;
    assert_eq!(source.loads(), 1);
}
