//! The subscription to the namespace's lease channel: started by a cache's first lease,
//! it wakes the callers waiting for each lease handed back, and lives as long as the
//! cache. A lost subscription wakes every waiter (each looks again) and is made again,
//! with backoff.
//!
//! A lease is handed back by a script that publishes at the lease key's node; on a
//! cluster a `PUBLISH` reaches the subscribers of every node, so one subscription (at
//! any master) hears them all.

use crate::backend::Backend;
use crate::inner::Inner;
use futures_util::StreamExt;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Starts `inner`'s listener, once, on the current runtime; whether the subscription is
/// up ([`crate::lease::Leases::ready`]).
pub(crate) async fn listening(inner: &Inner) -> bool {
    if inner.leases.start_once() {
        match (inner.this.upgrade(), tokio::runtime::Handle::try_current()) {
            (Some(this), Ok(runtime)) => {
                let dropped = this.dropped.subscribe();
                runtime.spawn(run(Arc::downgrade(&this), dropped));
            }
            _ => {
                inner.leases.set_ready(false); // no runtime to listen on: no lease
                return false;
            }
        }
    }
    inner.leases.ready().await
}

async fn run(cache: Weak<Inner>, mut dropped: tokio::sync::watch::Receiver<()>) {
    let mut delay = Duration::from_millis(100);
    loop {
        let Some(inner) = cache.upgrade() else { return };
        let Backend::Redis(redis) = &inner.backend else {
            return;
        };
        let subscribed = match redis.backplane_nodes().await {
            Ok(nodes) => match nodes.first() {
                Some(node) => {
                    redis
                        .subscribe(node, &inner.leases.channel, inner.leases.connect_timeout)
                        .await
                }
                None => Err(crate::CacheError::Unavailable),
            },
            Err(error) => Err(error),
        };
        match subscribed {
            Ok(mut stream) => {
                delay = Duration::from_millis(100);
                inner.leases.set_ready(true);
                drop(inner);
                loop {
                    tokio::select! {
                        _ = dropped.changed() => return,
                        message = stream.next() => {
                            let Some(message) = message else { break };
                            let Some(inner) = cache.upgrade() else { return };
                            let lease: &[u8] = message.get_payload_bytes();
                            if let Ok(lease) = std::str::from_utf8(lease) {
                                inner.leases.woken(lease);
                            }
                        }
                    }
                }
                tracing::info!("cache: the lease subscription was lost; subscribing again");
            }
            Err(error) => {
                if let Some(suppressed) = inner.warnings.allow() {
                    tracing::warn!(%error, suppressed, "cache: cannot subscribe to the lease channel; misses load without waiting for other processes");
                }
            }
        }
        let Some(inner) = cache.upgrade() else { return };
        inner.leases.set_ready(false);
        drop(inner);
        // A real delay between attempts, not synchronisation.
        tokio::select! {
            _ = dropped.changed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
