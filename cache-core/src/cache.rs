//! The [`Cache`] handle and its operations.

use crate::error::CacheError;
use crate::inner::Inner;
use crate::key::{self, KeyParts};
use crate::site::UserSite;
use crate::stats::CacheStats;
use crate::target::Target;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A handle on a cache: Redis, or the in-process memory store.
///
/// Cheap to clone (one `Arc`), `Send + Sync`. Build one with [`Cache::builder`] or
/// [`Cache::from_env`], and [`crate::install`] it for the attributes.
///
/// # Semantics
///
/// - **Fail-open.** The plain operations never fail: an unreachable Redis reads as a
///   miss, a failed write is dropped; both are counted in [`Cache::stats`] and logged
///   (rate-limited) with `tracing`. The `try_*` operations return the error instead.
/// - **Deadlines and breaker.** Every Redis call has the deadline set by
///   [`crate::CacheBuilder::op_timeout`]. After repeated failures the cache skips Redis for a
///   while, then lets one call probe it.
/// - **Generations.** Entries of the attributes are filled under the generations of
///   their prefix and of their (prefix, scope); [`Cache::invalidate`] removes the
///   scope's generation (one `UNLINK`) and [`Cache::invalidate_all`] the prefix
///   generation's [`crate::key::BUCKETS`] copies, whatever the number of entries; the
///   next read creates a fresh token, so every entry filled before is then a miss. An
///   invalidation is idempotent and monotonic: retried, duplicated or delivered late, it
///   can only remove a generation once more, never bring an old one back.
/// - **Hit = one round trip.** A hit reads the prefix generation, the scope generation
///   and the entry with one `MGET`, and checks them client-side (no Lua). The three keys
///   share a Redis Cluster hash tag (the prefix generation has one copy per bucket of
///   scopes, see [`crate::key`]), so on a cluster too a hit is one single-slot `MGET`
///   to one master.
///
/// # Example
///
/// The plain operations, on the in-process memory backend (the same on Redis):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use cache_core::Cache;
/// use std::time::Duration;
///
/// let cache = Cache::builder().memory().namespace("docs").build().await.unwrap();
/// cache.set("greeting", "hello", Duration::from_secs(60)).await;
/// assert_eq!(cache.get::<String>("greeting").await.as_deref(), Some("hello"));
/// assert!(cache.delete("greeting").await);
/// assert_eq!(cache.get::<String>("greeting").await, None);
/// # }
/// ```
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.inner.backend)
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A cache around the state `make` builds, which is told its own address.
    pub(crate) fn from_inner(make: impl FnOnce(Weak<Inner>) -> Inner) -> Cache {
        Cache {
            inner: Arc::new_cyclic(|this| make(this.clone())),
        }
    }

    /// The namespace every key of this cache lives under.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// Whether this cache is backed by Redis (false: in-process memory).
    pub fn is_redis(&self) -> bool {
        self.inner.backend.is_remote()
    }

    /// Counters in total and per prefix.
    pub fn stats(&self) -> CacheStats {
        let mut stats = self.inner.stats.snapshot();
        if let Some(fleet) = &self.inner.fleet {
            stats.fleet = fleet.stats();
        }
        stats
    }

    /// The fleet of this cache's namespace as it last saw it: its own manifest, its live
    /// peers', their disagreements and what it refuses because of them
    /// ([`crate::CacheBuilder::fleet_period`]); `None` for the memory store.
    pub fn fleet(&self) -> Option<crate::FleetReport> {
        self.inner.fleet.as_ref().map(crate::fleet::Fleet::report)
    }

    /// The statistics the live processes of this cache's namespace published
    /// ([`crate::CacheBuilder::publish_stats`]), this cache's own included when it
    /// publishes; add them up with [`CacheStats::add`]. Empty for the memory store.
    pub async fn fleet_stats(&self) -> Result<Vec<crate::ProcessStats>, CacheError> {
        crate::fleet::published::read(&self.inner).await
    }

    /// Takes this cache's manifest and published statistics off its namespace now,
    /// rather than when the last handle is dropped: for a short-lived program about to
    /// exit (a command line), which its peers would otherwise count for three fleet
    /// periods. Nothing else changes; the next period publishes them again.
    pub async fn leave_fleet(&self) {
        crate::fleet::exchange::leave(&self.inner).await;
    }

    /// The entries of `prefix` on Redis that pass `filter` ([`crate::inspect`]): each
    /// read back as its call, with its size, TTL and whether it is current. A scan of
    /// the keyspace (every master of a cluster): for tools, never for a request path.
    /// Empty for the memory store.
    pub async fn entries(
        &self,
        prefix: &str,
        filter: &crate::inspect::EntryFilter,
    ) -> Result<Vec<crate::inspect::EntryReport>, CacheError> {
        crate::inspect::entries(&self.inner, prefix, filter).await
    }

    /// One entry on Redis, its value included (a sealed one opened only when this cache
    /// holds the keys); `None` when `key` is not an entry of this cache's namespace and
    /// format, or is gone. For tools: it scans the entry's bucket for its tags.
    pub async fn entry(
        &self,
        key: &str,
    ) -> Result<Option<crate::inspect::EntryReport>, CacheError> {
        crate::inspect::entry(&self.inner, key).await
    }

    /// This cache's Redis and fleet examined ([`crate::inspect::Doctor`]): server
    /// versions, memory limit and policy, evictions, latency, a cluster's coverage, the
    /// backplane's subscribers, the fleet's disagreements and key rotation.
    pub async fn doctor(&self) -> crate::inspect::Doctor {
        crate::inspect::doctor(&self.inner).await
    }

    /// The state of the in-process tier ([`crate::CacheBuilder::l1`]); `None` without one.
    pub fn l1_stats(&self) -> Option<crate::L1Stats> {
        self.inner.tier.as_ref().map(crate::l1::Tier::stats)
    }

    /// How many invalidations wait for Redis to come back (a deletion by pattern whose
    /// notice to the in-process tiers is still owed counts as one).
    pub fn pending_invalidations(&self) -> usize {
        self.inner.pending.waiting()
    }

    /// Whether the breaker is open: Redis failed repeatedly and calls skip it for now.
    /// On a cluster, whether the breaker of any group of slots is open.
    pub fn is_breaker_open(&self) -> bool {
        self.inner.breakers.any_open()
    }

    /// Whether this cache is backed by a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.backend.is_cluster()
    }

    /// How many single-flight loads are under way (zero when the cache is idle).
    pub fn loads_in_flight(&self) -> usize {
        self.inner.flights.count()
    }

    // ----- user keys -------------------------------------------------------------------

    /// The value at `key` (under the namespace), or `None` on a miss, on an undecodable
    /// value, or when Redis fails.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let counters = self.inner.stats.user_key(key);
        match self.try_get(key).await {
            Ok(Some(value)) => {
                counters.hit();
                Some(value)
            }
            Ok(None) => {
                counters.miss();
                None
            }
            Err(CacheError::Serde(error)) => {
                counters.decode_error();
                counters.miss();
                tracing::debug!(key, %error, "cached value of another type; reading as a miss");
                None
            }
            Err(error) => {
                self.inner.count_failure(&counters, "get", &error);
                counters.miss();
                None
            }
        }
    }

    /// Like [`Cache::get`], returning the error.
    pub async fn try_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        let key = key::user_key(&self.inner.namespace, key);
        let raw = self
            .inner
            .guarded(&key, self.inner.backend.get(&key))
            .await?;
        raw.map(|raw| serde_json::from_slice(&raw).map_err(CacheError::from))
            .transpose()
    }

    /// Stores `value` at `key` for `ttl`, as plain JSON (readable by any client).
    /// Failures are counted and dropped.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T, ttl: Duration) {
        if let Err(error) = self.try_set(key, value, ttl).await {
            let counters = self.inner.stats.user_key(key);
            self.inner.count_failure(&counters, "set", &error);
        }
    }

    /// Like [`Cache::set`], returning the error.
    pub async fn try_set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let json = serde_json::to_vec(value)?;
        let key = key::user_key(&self.inner.namespace, key);
        self.inner
            .guarded(&key, self.inner.backend.set(&key, Bytes::from(json), ttl))
            .await
    }

    /// Deletes `key`; true if it existed. Failures read as false.
    pub async fn delete(&self, key: &str) -> bool {
        self.fail_open("delete", key, self.try_delete(key)).await
    }

    /// Like [`Cache::delete`], returning the error.
    pub async fn try_delete(&self, key: &str) -> Result<bool, CacheError> {
        let key = key::user_key(&self.inner.namespace, key);
        let deleted = self
            .inner
            .guarded(&key, self.inner.backend.del(&[&key]))
            .await?;
        Ok(deleted > 0)
    }

    /// Deletes every key matching the Redis glob `pattern` (under the namespace) with
    /// `SCAN` + `UNLINK` in batches, never `KEYS`; returns how many went. Failures read
    /// as 0. For operators and debugging: invalidation of cached functions is
    /// [`Cache::invalidate`], which is O(1).
    pub async fn delete_pattern(&self, pattern: &str) -> u64 {
        self.fail_open("delete_pattern", pattern, self.try_delete_pattern(pattern))
            .await
    }

    /// Like [`Cache::delete_pattern`], returning the error.
    pub async fn try_delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let pattern = key::user_key(&self.inner.namespace, pattern);
        // Generation keys may go: the in-process tiers of the namespace forget everything.
        crate::invalidation::delete_pattern(&self.inner, &pattern).await
    }

    /// Whether `key` exists. Failures read as false.
    pub async fn exists(&self, key: &str) -> bool {
        self.fail_open("exists", key, self.try_exists(key)).await
    }

    /// Like [`Cache::exists`], returning the error.
    pub async fn try_exists(&self, key: &str) -> Result<bool, CacheError> {
        let key = key::user_key(&self.inner.namespace, key);
        self.inner
            .guarded(&key, self.inner.backend.exists(&key))
            .await
    }

    /// The value at `key`, or `loader`'s, stored for `ttl`. Concurrent misses on `key` in
    /// this process run `loader` once. Never fails: with Redis down, `loader` runs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use cache_core::Cache;
    /// # use std::time::Duration;
    /// let cache = Cache::builder().memory().build().await.unwrap();
    /// let ttl = Duration::from_secs(60);
    /// let first: u32 = cache.get_or_set("answer", ttl, || async { 42 }).await;
    /// let second: u32 = cache.get_or_set("answer", ttl, || async { unreachable!() }).await;
    /// assert_eq!((first, second), (42, 42));
    /// # }
    /// ```
    pub async fn get_or_set<T, F, Fut>(&self, key: &str, ttl: Duration, loader: F) -> T
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let parts = KeyParts::new();
        let site = UserSite { key, ttl };
        crate::read::read_through::<crate::outcome::ValueMode<T>, _>(
            &self.inner,
            &site,
            &parts,
            crate::read::Options::none(),
            async move { loader().await },
        )
        .await
    }

    /// Like [`Cache::get_or_set`] with a fallible loader: an `Err` is returned and never
    /// stored.
    pub async fn get_or_try_set<T, E, F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        loader: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let parts = KeyParts::new();
        let site = UserSite { key, ttl };
        crate::read::read_through::<crate::outcome::ResultMode<Result<T, E>>, _>(
            &self.inner,
            &site,
            &parts,
            crate::read::Options::none(),
            async move { loader().await },
        )
        .await
    }

    // ----- invalidation ----------------------------------------------------------------

    /// Invalidates every entry of `prefix` cached for `scope` (the value of `key = ...`),
    /// in O(1). Other scopes stay cached. If Redis cannot be reached the invalidation is
    /// kept and retried, and this process serves that scope from the source until it
    /// lands. What `#[invalidates("fmpa", key = tenant)]` does after its function:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use cache_core::{Cache, cached};
    ///
    /// #[cached(prefix = "fmpa", ttl = "5m", key = tenant, cache = cache)]
    /// async fn count(cache: &Cache, tenant: &str) -> usize {
    ///     tenant.len()
    /// }
    ///
    /// let cache = Cache::builder().memory().build().await.unwrap();
    /// count(&cache, "acme").await; // miss
    /// count(&cache, "acme").await; // hit
    /// cache.invalidate("fmpa", "acme").await;
    /// count(&cache, "acme").await; // miss again
    /// assert_eq!(cache.stats().site("fmpa", "count").loads, 2);
    /// # }
    /// ```
    pub async fn invalidate<S: Serialize + ?Sized>(&self, prefix: &str, scope: &S) {
        let _ = self.try_invalidate(prefix, scope).await;
    }

    /// Like [`Cache::invalidate`], returning the error (the invalidation is still kept
    /// and retried). A scope that does not serialize invalidates the whole prefix
    /// instead (coarser, never weaker), as `#[invalidates]` does, and is logged.
    pub async fn try_invalidate<S: Serialize + ?Sized>(
        &self,
        prefix: &str,
        scope: &S,
    ) -> Result<(), CacheError> {
        let mut parts = KeyParts::new();
        parts.scope(scope);
        if parts.is_invalid() {
            tracing::error!(
                prefix,
                "cache: the invalidation scope did not serialize; invalidating the whole prefix"
            );
        }
        let targets = self.inner.targets_of(prefix, &parts);
        crate::invalidation::invalidate(&self.inner, targets).await
    }

    /// Invalidates every entry of `prefix`, all scopes, in O(1): the cost is that of
    /// removing the [`crate::key::BUCKETS`] copies of the prefix generation, whatever the
    /// number of entries (on a cluster, the copies are spread over the masters and removed
    /// in parallel).
    pub async fn invalidate_all(&self, prefix: &str) {
        let _ = self.try_invalidate_all(prefix).await;
    }

    /// Like [`Cache::invalidate_all`], returning the error (the invalidation is still kept
    /// and retried).
    pub async fn try_invalidate_all(&self, prefix: &str) -> Result<(), CacheError> {
        let target = Target::prefix(&self.inner.namespace, prefix);
        crate::invalidation::invalidate(&self.inner, vec![target]).await
    }

    /// Invalidates the entries of `prefix` that depend on tag `tag` = `value` (declared
    /// with `tag(...)` or read from the result), in `scope`, or in every scope with
    /// `None`: what `#[invalidates(prefix, tag(tag = value))]` does, kept and retried as
    /// every invalidation.
    pub async fn try_invalidate_tag<S: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        prefix: &str,
        scope: Option<&S>,
        tag: &'static str,
        value: &V,
    ) -> Result<(), CacheError> {
        let mut parts = KeyParts::new();
        if let Some(scope) = scope {
            parts.scope(scope);
        }
        parts.tag(tag, value);
        let targets = self.inner.targets_of(prefix, &parts);
        crate::invalidation::invalidate(&self.inner, targets).await
    }

    async fn fail_open<T: Default>(
        &self,
        what: &'static str,
        key: &str,
        op: impl Future<Output = Result<T, CacheError>>,
    ) -> T {
        match op.await {
            Ok(value) => value,
            Err(error) => {
                let counters = self.inner.stats.user_key(key);
                self.inner.count_failure(&counters, what, &error);
                T::default()
            }
        }
    }
}
