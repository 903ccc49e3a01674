//! Invalidation: the one function every invalidation goes through (its targets are
//! [`Target`]s), and the retry of those that did not land.
//!
//! An invalidation **removes** generation keys (`UNLINK`): the scope's, every copy of the
//! prefix's, or a tag value's (and its tag's "every value") in a scope or in every copy. The next read finds no generation and creates a fresh token with
//! `SET NX`, so entries filled before are never current again. Removing is idempotent and
//! monotonic: a retry, a late duplicate or a delayed delivery can only remove a generation
//! once more (one more miss), never bring an older one back, in any order with other
//! invalidations from any process. It is also what a full Redis (`maxmemory` with
//! `noeviction`) still accepts: `UNLINK` frees memory, where a `SET` of a new token would
//! be refused.
//!
//! Once an invalidation has started, each of its targets is either removed or parked in
//! [`Pending`](crate::pending::Pending), even if the caller's future is dropped halfway:
//! the targets not yet settled are parked when it is dropped.

use crate::error::CacheError;
use crate::inner::Inner;
use crate::target::Target;
use std::collections::VecDeque;
use std::sync::Weak;
use std::time::Duration;

/// The targets of one invalidation not settled yet; dropped early (the caller's future
/// was cancelled), it parks them for the retry task.
struct Unsettled<'a> {
    inner: &'a Inner,
    targets: VecDeque<Target>,
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        for target in self.targets.drain(..) {
            self.inner.park(target);
        }
    }
}

impl Inner {
    /// Invalidates each target in turn: removed, or parked and retried. Returns the first
    /// error (every target is still attempted).
    pub(crate) async fn invalidate(&self, targets: Vec<Target>) -> Result<(), CacheError> {
        let mut unsettled = Unsettled {
            inner: self,
            targets: targets.into(),
        };
        let mut first_error = None;
        while let Some(target) = unsettled.targets.front() {
            let counters = self.stats.prefix(target.prefix_name());
            counters.invalidation();
            let ticket = self.pending.ticket(target.pending_key());
            let result = self.remove_generations(target).await;
            let Some(target) = unsettled.targets.pop_front() else {
                break;
            };
            match result {
                Ok(()) => {
                    self.pending.settle(&target, ticket);
                    tracing::debug!(key = target.pending_key(), "cache invalidated");
                }
                Err(error) => {
                    self.count_failure(&counters, "invalidate", &error);
                    self.park(target);
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Removes the generation keys of `target`.
    async fn remove_generations(&self, target: &Target) -> Result<(), CacheError> {
        let keys = target.generation_keys();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        match (target.is_scope(), keys.first()) {
            (true, Some(key)) => {
                self.guarded(key, self.backend.remove_generations(&keys))
                    .await
            }
            _ => {
                self.guarded_wide(self.backend.remove_generations(&keys))
                    .await
            }
        }
    }

    /// Keeps `target` for the retry task, and makes sure one runs.
    pub(crate) fn park(&self, target: Target) {
        self.pending.park(target);
        self.spawn_retry();
    }

    /// Starts the task that retries pending invalidations, unless one runs (or there is
    /// no runtime here: the next invalidation or blocked read starts it).
    pub(crate) fn spawn_retry(&self) {
        if !self.pending.start_retrying() {
            return;
        }

        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.pending.abandon_retrying();
            return;
        };
        // The claim moves into the task's future: dropped with it, even unpolled.
        let claim = Claim {
            cache: self.this.clone(),
            released: false,
        };
        runtime.spawn(retry_pending(claim));
    }
}

/// The retry task's claim on its cache: released when the task ends in any way,
/// including being dropped, polled or not, by a runtime that shuts down.
struct Claim {
    cache: Weak<Inner>,
    released: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.released
            && let Some(inner) = self.cache.upgrade()
        {
            inner.pending.abandon_retrying();
        }
    }
}

/// Retries pending invalidations with backoff until none is left or the cache is gone.
async fn retry_pending(mut claim: Claim) {
    let cache = claim.cache.clone();
    let mut delay = Duration::from_millis(50);
    loop {
        // A real delay between attempts, not synchronisation.
        tokio::time::sleep(delay).await;
        let Some(inner) = cache.upgrade() else {
            claim.released = true;
            return;
        };
        for (target, ticket) in inner.pending.snapshot() {
            if inner.remove_generations(&target).await.is_ok() {
                inner.pending.settle(&target, Some(ticket));
                tracing::info!(
                    key = target.pending_key(),
                    "cache: pending invalidation landed"
                );
            }
        }
        if inner.pending.is_empty() && !inner.pending.stop_retrying() {
            claim.released = true;
            return;
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
