//! What the processes of a fleet publish of their statistics, so that one tool (the
//! `cache` command line) sees the whole fleet's: every period of the manifests' exchange
//! ([`crate::CacheBuilder::fleet_period`]), each Redis cache writes a snapshot of its
//! [`CacheStats`] into a hash of the namespace (`<namespace>:!stats`, a field per cache,
//! living three periods), unless built with `publish_stats(false)`.

use crate::CacheStats;
use crate::error::CacheError;
use serde::{Deserialize, Serialize};

/// One live process's statistics, as it last published them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProcessStats {
    /// The cache's id in its fleet (its manifest's).
    pub id: String,
    /// The process: `pid <n> on <host>`.
    pub process: String,
    /// Its statistics when it published them.
    pub stats: CacheStats,
}

/// The statistics hash of `namespace`.
pub(crate) fn key(namespace: &str) -> String {
    match namespace.is_empty() {
        true => String::from("!stats"),
        false => format!("{namespace}:!stats"),
    }
}

/// Publishes `inner`'s statistics for its fleet (one command).
pub(crate) async fn publish(inner: &crate::inner::Inner) -> Result<(), CacheError> {
    let (Some(fleet), crate::backend::Backend::Redis(redis)) = (&inner.fleet, &inner.backend)
    else {
        return Ok(());
    };
    if !fleet.publish {
        return Ok(());
    }
    let snapshot = ProcessStats {
        id: fleet.manifest.id.clone(),
        process: fleet.manifest.process.clone(),
        stats: inner.stats.snapshot(),
    };
    let text = serde_json::to_string(&snapshot).unwrap_or_default();
    let key = key(&inner.namespace);
    inner
        .guarded(
            &key,
            redis.publish_stats(&key, &fleet.manifest.id, &text, fleet.ttl()),
        )
        .await
}

/// The statistics the live processes of `inner`'s namespace published, this cache's
/// included when it publishes; unreadable ones (another version) are left out.
pub(crate) async fn read(inner: &crate::inner::Inner) -> Result<Vec<ProcessStats>, CacheError> {
    let crate::backend::Backend::Redis(redis) = &inner.backend else {
        return Ok(Vec::new());
    };
    let key = key(&inner.namespace);
    let texts = inner.guarded(&key, redis.published_stats(&key)).await?;
    let mut all: Vec<ProcessStats> = texts
        .iter()
        .filter_map(|text| serde_json::from_str(text).ok())
        .collect();
    all.sort_by(|a, b| a.process.cmp(&b.process).then(a.id.cmp(&b.id)));
    Ok(all)
}
