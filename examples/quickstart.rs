//! The quickstart: `cargo run --example quickstart`.
//!
//! Caches a slow "database" read per tenant, invalidates it on a write, and prints what
//! happened. Uses Redis when `REDIS_URL` is set, the in-process memory store otherwise.

use cache_core::{Cache, cached, invalidates};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Page {
    tenant: String,
    items: Vec<String>,
}

/// The expensive read: 200 ms of "database" per call.
#[cached(prefix = "fmpa", ttl = "5m", key = tenant, page)]
async fn list_fmpa(tenant: &str, page: u32) -> Result<Page, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(Page {
        tenant: tenant.to_owned(),
        items: (0..3).map(|i| format!("fmpa #{}", page * 10 + i)).collect(),
    })
}

/// The write: after it succeeds, this tenant's fmpa entries are invalidated.
#[invalidates("fmpa", key = tenant)]
async fn create_fmpa(tenant: &str, title: &str) -> Result<(), std::io::Error> {
    let _ = (tenant, title);
    Ok(())
}

async fn timed(cache: &Cache, label: &str, tenant: &str) {
    let hits = cache.stats().prefix("fmpa").hits;
    let started = Instant::now();
    let page = list_fmpa(tenant, 1)
        .await
        .expect("the source does not fail here");
    let took = started.elapsed();
    let how = if cache.stats().prefix("fmpa").hits > hits {
        "hit"
    } else {
        "miss"
    };
    println!(
        "{label:<26} {how:<5} {took:>9.2?}  {} items for {}",
        page.items.len(),
        page.tenant
    );
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cache = Cache::from_env().await;
    println!(
        "cache: {}",
        if cache.is_redis() {
            "Redis (REDIS_URL)"
        } else {
            "in-process memory (set REDIS_URL for Redis)"
        }
    );
    cache_core::install(cache.clone());

    timed(&cache, "first read", "acme").await;
    timed(&cache, "second read", "acme").await;
    timed(&cache, "other tenant", "globex").await;
    create_fmpa("acme", "new session").await.expect("write");
    timed(&cache, "acme after a write", "acme").await;
    timed(&cache, "acme again", "acme").await;
    timed(&cache, "other tenant after it", "globex").await;

    let fmpa = cache.stats().prefix("fmpa");
    println!(
        "fmpa: {} hits, {} misses, {} loads, hit rate {:.0}%",
        fmpa.hits,
        fmpa.misses,
        fmpa.loads,
        fmpa.hit_rate() * 100.0
    );
}

/// The example's cache sites agree (`cache_core::audit`): each read is invalidated by the
/// writes that change it, with the same scope types and tags.
#[cfg(test)]
#[test]
fn the_cache_sites_agree() {
    let audit = cache_core::audit();
    assert!(!audit.sites().is_empty());
    assert!(audit.findings().is_empty(), "{audit}");
}
