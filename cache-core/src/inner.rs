//! The state behind every handle of one cache, and the guard each backend call goes
//! through: the breaker of the key's server (or group of slots), and the counting and
//! rate-limited logging of failures.

use crate::backend::Backend;
use crate::breaker::Breakers;
use crate::codec::Codec;
use crate::error::CacheError;
use crate::fail_safe::FailSafe;
use crate::flight::Flights;
use crate::guarded::Guarded;
use crate::key::KeyParts;
use crate::l1::Tier;
use crate::pending::Pending;
use crate::sensitive::{Naming, Protection, Sensitive};
use crate::stats::{Counters, Stats};
use crate::target::Target;
use crate::throttle::Throttle;
use std::future::Future;
use std::sync::Weak;
use std::time::Duration;

/// What a [`crate::Cache`] handle shares with its clones; the read path
/// ([`crate::read`]) and the invalidation path ([`crate::invalidation`]) are methods on it.
pub(crate) struct Inner {
    /// Unique per cache built in this process (never reused, unlike an address).
    pub(crate) id: u64,
    /// This cache itself, for the tasks it spawns (the retry of pending invalidations).
    pub(crate) this: Weak<Inner>,
    pub(crate) backend: Backend,
    pub(crate) namespace: String,
    /// The namespace's backplane channel ([`crate::l1::backplane`]): every invalidation on
    /// Redis is announced there, whether this cache has a tier or not.
    pub(crate) channel: String,
    pub(crate) generation_ttl: Duration,
    pub(crate) codec: Codec,
    pub(crate) breakers: Breakers,
    pub(crate) flights: Flights,
    pub(crate) pending: Pending,
    pub(crate) stats: Stats,
    pub(crate) warnings: Throttle,
    /// The in-process tier (`l1`), when the cache has one (Redis only).
    pub(crate) tier: Option<Tier>,
    /// Sensitive prefixes and the keys that protect them.
    pub(crate) sensitive: Sensitive,
    /// Its part in the fleet of its namespace (Redis only).
    pub(crate) fleet: Option<crate::fleet::Fleet>,
    /// Fail-safe and jitter defaults, and the reloads held back after a failure.
    pub(crate) fail_safe: FailSafe,
    /// The consistency checker's rate and window.
    pub(crate) consistency: crate::consistency::Checker,
    /// The stampede lease's default, waiters and subscription.
    pub(crate) leases: crate::lease::Leases,
    /// Dropped with the cache: tells its tasks (the fleet's) to leave.
    pub(crate) dropped: tokio::sync::watch::Sender<()>,
}

impl Inner {
    /// Runs one backend operation on `key` (or on keys in its slot) through the breaker
    /// that guards it, reporting its outcome.
    pub(crate) fn guarded<T, F>(&self, key: &str, op: F) -> Guarded<'_, F>
    where
        F: Future<Output = Result<T, CacheError>>,
    {
        let breaker = self.backend.is_remote().then(|| self.breakers.for_key(key));
        Guarded::new(op, breaker)
    }

    /// Runs an operation that may reach every node (a scan, keys of many slots): through
    /// the breaker of a single server; on a cluster, under its deadline only, since no one
    /// group of slots is to blame for its failure.
    pub(crate) async fn guarded_wide<T>(
        &self,
        op: impl Future<Output = Result<T, CacheError>>,
    ) -> Result<T, CacheError> {
        if self.breakers.single().is_some() {
            return self.guarded("", op).await;
        }
        op.await
    }

    /// Counts and (rate-limited) logs a failed cache operation.
    pub(crate) fn count_failure(&self, counters: &Counters, what: &str, error: &CacheError) {
        if matches!(error, CacheError::Unavailable) {
            counters.bypass();
            return;
        }
        if matches!(error, CacheError::Refused(_)) {
            counters.refused();
            if let Some(suppressed) = self.warnings.allow() {
                tracing::warn!(%error, operation = what, suppressed, "cache: Redis refused a command (full, with maxmemory-policy noeviction?); carrying on");
            }
            return;
        }
        counters.error();
        if let Some(suppressed) = self.warnings.allow() {
            tracing::warn!(%error, operation = what, suppressed, "cache operation failed; carrying on without the cache");
        }
    }

    /// The protection of a call of `prefix` at a site that says it is sensitive or not: not
    /// cached while the fleet's manifests put the prefix in dispute ([`crate::fleet`]),
    /// else as the cache's sensitive prefixes and keys say.
    pub(crate) fn protection(&self, prefix: &str, site_says: bool) -> Protection<'_> {
        if self.fleet_refuses(prefix) {
            return Protection::Disputed;
        }
        self.sensitive.protection(prefix, site_says)
    }

    /// Whether the fleet's manifests put `prefix` in dispute here: its calls are then not
    /// cached, and its invalidations are whole. One atomic load when nothing is.
    pub(crate) fn fleet_refuses(&self, prefix: &str) -> bool {
        self.fleet
            .as_ref()
            .is_some_and(|fleet| fleet.refuses(prefix, || self.sensitive.covers(prefix)))
    }

    /// Notes, for the fleet's manifests, that this cache reads or invalidates `prefix`.
    pub(crate) fn note_use(&self, prefix: &str) {
        if let Some(fleet) = &self.fleet {
            fleet.note_use(prefix);
        }
    }

    /// The invalidation targets of `parts` in `prefix` ([`Target::named`]), named as this
    /// cache names the prefix's keys; a prefix in dispute with the fleet is invalidated
    /// whole.
    pub(crate) fn targets_of(&self, prefix: &str, parts: &KeyParts) -> Vec<Target> {
        self.note_use(prefix);
        let naming = match self.fleet_refuses(prefix) {
            true => Naming::Unknown,
            false => self.sensitive.naming(prefix),
        };
        Target::named(&self.namespace, prefix, parts, naming)
    }
}
