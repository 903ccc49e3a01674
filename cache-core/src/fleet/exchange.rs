//! The periodic exchange of a cache's manifest with its fleet, run by a task of the cache.

use super::{Fleet, Released};
use crate::error::CacheError;
use std::time::Duration;

/// One exchange of `inner`'s manifest with its fleet, and what follows from it: the
/// prefixes whose refusal ended are invalidated whole.
pub(crate) async fn once(inner: &crate::inner::Inner) -> Result<(), CacheError> {
    let (Some(fleet), crate::backend::Backend::Redis(redis)) = (&inner.fleet, &inner.backend)
    else {
        return Ok(());
    };
    let peers = inner
        .guarded(
            &fleet.key,
            redis.exchange_manifest(
                &fleet.key,
                &fleet.manifest.id,
                &fleet.encoded(),
                fleet.ttl(),
            ),
        )
        .await?;
    let Released(released) = fleet.apply(&inner.namespace, &peers);
    if let Err(error) = super::published::publish(inner).await {
        tracing::debug!(%error, "cache: the statistics were not published; trying again next period");
    }
    if !released.is_empty() {
        tracing::warn!(prefixes = ?released, "cache: the fleet agrees again on these prefixes; invalidating them whole once and caching them again");
        let targets = released
            .iter()
            .map(|prefix| crate::target::Target::prefix(&inner.namespace, prefix))
            .collect();
        let _ = crate::invalidation::invalidate(inner, targets).await;
    }
    Ok(())
}

/// Takes `inner`'s manifest and statistics off the namespace now (a program about to
/// exit, whose exchange task will not get to run).
pub(crate) async fn leave(inner: &crate::inner::Inner) {
    let (Some(fleet), crate::backend::Backend::Redis(redis)) = (&inner.fleet, &inner.backend)
    else {
        return;
    };
    let _ = redis.leave_fleet(&fleet.key, &fleet.manifest.id).await;
    let stats = super::published::key(&inner.namespace);
    let _ = redis.leave_fleet(&stats, &fleet.manifest.id).await;
}

/// Starts the periodic exchange of `inner`'s manifest on the current runtime; the task
/// removes the manifest when the cache is dropped.
pub(crate) fn start(inner: &std::sync::Arc<crate::inner::Inner>) {
    let (Some(fleet), crate::backend::Backend::Redis(redis)) = (&inner.fleet, &inner.backend)
    else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let leave = Leave {
        redis: redis.clone(),
        key: fleet.key.clone(),
        stats: super::published::key(&inner.namespace),
        id: fleet.manifest.id.clone(),
    };
    let period = fleet.period;
    let dropped = inner.dropped.subscribe();
    runtime.spawn(run(
        std::sync::Arc::downgrade(inner),
        period,
        dropped,
        leave,
    ));
}

/// What a cache that goes away takes off the namespace: its manifest and its statistics.
struct Leave {
    redis: crate::backend::RedisBackend,
    key: String,
    stats: String,
    id: String,
}

async fn run(
    cache: std::sync::Weak<crate::inner::Inner>,
    period: Duration,
    mut dropped: tokio::sync::watch::Receiver<()>,
    leave: Leave,
) {
    let period = period.max(Duration::from_millis(1));
    // The first exchange now, unless `build` made it.
    let first = match cache
        .upgrade()
        .and_then(|inner| inner.fleet.as_ref().map(Fleet::is_checked))
    {
        Some(true) => tokio::time::Instant::now() + period,
        _ => tokio::time::Instant::now(),
    };
    let mut ticks = tokio::time::interval_at(first, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = dropped.changed() => break,
            _ = ticks.tick() => {
                let Some(inner) = cache.upgrade() else { break };
                if let Err(error) = once(&inner).await {
                    // Redis is down or slow: the reads' own warnings say so.
                    tracing::debug!(%error, "cache: the fleet manifest was not exchanged; trying again next period");
                }
            }
        }
    }
    let _ = leave.redis.leave_fleet(&leave.key, &leave.id).await;
    let _ = leave.redis.leave_fleet(&leave.stats, &leave.id).await;
}
