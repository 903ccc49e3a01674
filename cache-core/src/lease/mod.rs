//! The distributed stampede lease (`#[cached(lease = "5s")]`,
//! [`crate::CacheBuilder::lease`]): on a miss, the process whose lease lands in Redis
//! loads; the others wait for its value, woken by a notice, the lease's time at most,
//! then look again (and load themselves if there is still nothing). In-process
//! single-flight stays in front: one lease request per process and key.
//!
//! The lease key is the entry's, `:!lease:`, and a hash of the generations (and fences)
//! the miss read: a miss after an invalidation takes another lease and never waits for
//! a load that began before it. Its holder hands it back marked `done` (for the lease
//! time, so that a miss that reads the entry missing just before the store looks again
//! instead of loading) and publishes its key on the namespace's lease channel, to which
//! a process subscribes on its first lease. A holder whose future is dropped hands it
//! back from a task; one that dies costs its waiters the lease time.
//!
//! This module holds the state of one cache; the protocol, over the cache, is
//! [`crate::read`]'s, and the subscription is [`listener`]'s.

pub(crate) mod listener;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// A cache's leases: its default, the callers waiting for another process's load, and
/// whether it is listening for their notices.
pub(crate) struct Leases {
    /// The lease of sites that do not set their own (zero: none).
    pub default: Duration,
    /// The namespace's lease channel.
    pub channel: String,
    /// How long the subscription may take to be made.
    pub connect_timeout: Duration,
    /// Lease key → the callers waiting for its notice.
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
    /// Whether the subscription is up (`None`: its first attempt is under way).
    ready: watch::Sender<Option<bool>>,
    /// Whether the listener was started.
    started: AtomicBool,
    /// Tokens: random per cache, then counted.
    seed: u64,
    next: AtomicU64,
}

impl Leases {
    pub fn new(namespace: &str, default: Duration, connect_timeout: Duration) -> Leases {
        Leases {
            default,
            channel: format!("{namespace}:!lease"),
            connect_timeout,
            waiting: Mutex::default(),
            ready: watch::channel(None).0,
            started: AtomicBool::new(false),
            seed: std::collections::hash_map::RandomState::new().hash_one(0u8),
            next: AtomicU64::new(0),
        }
    }

    /// The lease of a site: its own, else the default; `None` for none.
    pub fn of(&self, site: Option<Duration>) -> Option<Duration> {
        Some(site.unwrap_or(self.default)).filter(|lease| !lease.is_zero())
    }

    /// A token no other holder has.
    pub fn token(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{n:x}", self.seed)
    }

    /// Watches the notice of `lease` until the returned guard is dropped (also when the
    /// waiting caller's future is).
    pub fn watch(&self, lease: &str) -> Watching<'_> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let notify = waiting.entry(lease.to_owned()).or_default().clone();
        Watching {
            leases: self,
            lease: lease.to_owned(),
            notify,
        }
    }

    /// `lease` was handed back: its waiters look again.
    pub fn woken(&self, lease: &str) {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = waiting.get(lease) {
            notify.notify_waiters();
        }
    }

    /// The subscription is up, or lost (then every waiter looks again: a notice may have
    /// gone unheard).
    pub fn set_ready(&self, ready: bool) {
        self.ready.send_replace(Some(ready));
        if !ready {
            let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            for notify in waiting.values() {
                notify.notify_waiters();
            }
        }
    }

    /// Whether the listener is to be started now (true once).
    pub fn start_once(&self) -> bool {
        !self.started.swap(true, Ordering::AcqRel)
    }

    /// Whether the subscription is up: during its first attempt, waiting for it (the
    /// connect timeout at most); after, as it is now (a lost subscription, being made
    /// again, makes misses load without a lease rather than each wait for it).
    pub async fn ready(&self) -> bool {
        let mut ready = self.ready.subscribe();
        let first = tokio::time::timeout(self.connect_timeout, ready.wait_for(Option::is_some));
        matches!(first.await, Ok(Ok(state)) if *state == Some(true))
    }

    /// How many lease keys have waiters (for tests of leaks).
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A caller watching the notice of a lease; forgotten when dropped, with the lease when
/// it was the last one.
pub(crate) struct Watching<'a> {
    leases: &'a Leases,
    lease: String,
    notify: Arc<Notify>,
}

impl Watching<'_> {
    /// What wakes the caller.
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        let mut waiting = self
            .leases
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // The map's and this waiter's: nobody else waits.
        if Arc::strong_count(&self.notify) <= 2 {
            waiting.remove(&self.lease);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_are_woken_and_forgotten() {
        let leases = Leases::new("ns", Duration::ZERO, Duration::from_millis(10));
        let watching = leases.watch("l");
        {
            let notified = watching.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            leases.woken("l");
            notified.await;
        }
        // A second waiter keeps the lease watched until it is gone too.
        let other = leases.watch("l");
        drop(watching);
        assert_eq!(leases.waiting(), 1);
        drop(other);
        assert_eq!(leases.waiting(), 0);
        assert_eq!(leases.of(None), None);
        assert_eq!(
            leases.of(Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
        assert_ne!(leases.token(), leases.token());
    }
}
