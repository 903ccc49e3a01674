//! The read path's side of the stampede lease ([`crate::lease`]): the leader of a
//! process's flight takes the fleet's lease before it loads, or waits for the holder's
//! notice and looks again.

use super::Read;
use crate::backend::{Backend, Held};
use crate::inner::Inner;
use crate::key::CallKeys;
use crate::lease::listener;
use crate::sensitive::Keyring;
use crate::stats::Counters;
use std::sync::Weak;
use std::time::Duration;

/// What the leader of a miss does.
pub(super) enum Lease {
    /// Load: this caller holds the lease (handed back when it is dropped), or none could
    /// be had (no subscription, Redis failing: the load goes on as without a lease).
    Load(Option<Holder>),
    /// Another process's load ended, or its lease ran out: look again.
    LookAgain,
}

/// The lease this caller holds; dropped, it is handed back from a task (the caller is
/// answered without waiting for that round trip; a dropped future hands it back too).
pub(super) struct Holder {
    cache: Weak<Inner>,
    key: String,
    token: String,
    ttl: Duration,
}

/// Takes the lease `key` for `ttl`, or waits for its holder.
pub(super) async fn take(inner: &Inner, key: String, ttl: Duration, counters: &Counters) -> Lease {
    let Backend::Redis(redis) = &inner.backend else {
        return Lease::Load(None);
    };
    if !listener::listening(inner).await {
        return Lease::Load(None);
    }
    // Watching before the lease is asked for: a notice sent after the answer is heard.
    let watching = inner.leases.watch(&key);
    wait(inner, redis, watching.notify(), key, ttl, counters).await
}

/// [`take`], watching `notify` before the lease is asked for.
async fn wait(
    inner: &Inner,
    redis: &crate::backend::RedisBackend,
    notify: &tokio::sync::Notify,
    key: String,
    ttl: Duration,
    counters: &Counters,
) -> Lease {
    let notified = notify.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let token = inner.leases.token();
    let held = inner
        .guarded(&key, redis.take_lease(&key, &token, ttl))
        .await;
    match held {
        Ok(Held::Taken) => Lease::Load(Some(Holder {
            cache: inner.this.clone(),
            key,
            token,
            ttl,
        })),
        Ok(Held::Done) => Lease::LookAgain,
        Ok(Held::Loading(left)) => {
            // The notice, or the end of the holder's lease (it may have died).
            let _ = tokio::time::timeout(left, notified).await;
            Lease::LookAgain
        }
        Err(error) => {
            inner.count_failure(counters, "lease", &error);
            Lease::Load(None)
        }
    }
}

/// The value another process stored while this one waited, if there is one now.
pub(super) async fn look_again<T: serde::de::DeserializeOwned>(
    inner: &Inner,
    prefix: &str,
    keys: &CallKeys,
    keyring: Option<&Keyring>,
    counters: &Counters,
) -> Option<T> {
    match super::lookup::lookup(inner, prefix, keys, counters, false).await {
        Read::Hit {
            raw,
            payload_at,
            payload,
            generations,
            ..
        } => super::open(keyring, keys, &generations, payload, &raw[payload_at..]).ok(),
        _ => None,
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let (Some(inner), Ok(runtime)) =
            (self.cache.upgrade(), tokio::runtime::Handle::try_current())
        else {
            return; // the lease runs out by itself
        };
        let (key, token, ttl) = (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.token),
            self.ttl,
        );
        runtime.spawn(async move {
            let Backend::Redis(redis) = &inner.backend else {
                return;
            };
            let released = redis.release_lease(&key, &token, ttl, &inner.leases.channel);
            if let Err(error) = inner.guarded(&key, released).await {
                tracing::debug!(%error, key, "cache: a lease was not handed back; it runs out by itself");
            }
        });
    }
}
