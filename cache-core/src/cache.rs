//! The [`Cache`] handle and its operations.

use crate::backend::Backend;
use crate::breaker::{Breakers, Permit};
use crate::builder::CacheBuilder;
use crate::codec::{Codec, Payload};
use crate::entry;
use crate::error::CacheError;
use crate::flight::{Flights, Role};
use crate::generation;
use crate::invalidation::Target;
use crate::key::{self, CallKeys, KeyParts};
use crate::outcome::Mode;
use crate::pending::Pending;
use crate::stats::{CacheStats, Counters, Stats};
use crate::throttle::Throttle;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

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
///   [`CacheBuilder::op_timeout`]. After repeated failures the cache skips Redis for a
///   while, then lets one call probe it.
/// - **Generations.** Entries of the attributes are filled under the generations of
///   their prefix and of their (prefix, scope); [`Cache::invalidate`] replaces a
///   generation (one `SET`) and [`Cache::invalidate_all`] removes the prefix
///   generation's [`crate::key::BUCKETS`] copies (one `UNLINK`), whatever the number of
///   entries: every entry filled under an old generation is then a miss.
/// - **Hit = one round trip.** A hit reads the prefix generation, the scope generation
///   and the entry with one `MGET`, and checks them client-side (no Lua). The three keys
///   share a Redis Cluster hash tag (the prefix generation has one copy per bucket of
///   scopes, see [`crate::key`]), so on a cluster too a hit is one single-slot `MGET`
///   to one master.
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

/// Where a call's answer came from.
enum Read {
    /// The entry was current: the stored bytes (the value from `payload_at` on) and the
    /// generations it was read under.
    Hit {
        raw: Bytes,
        payload_at: usize,
        codec: Codec,
        prefix: Bytes,
        scope: Bytes,
    },
    /// Nothing usable; these are the generations to fill under.
    Miss { prefix: Bytes, scope: Bytes },
    /// The cache cannot be used for this call.
    Bypass,
}

pub(crate) struct Inner {
    /// Unique per cache built in this process (never reused, unlike an address).
    pub(crate) id: u64,
    /// This cache itself, for the tasks it spawns (the retry of pending invalidations).
    pub(crate) this: Weak<Inner>,
    pub(crate) backend: Backend,
    pub(crate) namespace: String,
    pub(crate) generation_ttl: Duration,
    pub(crate) codec: Codec,
    pub(crate) breakers: Breakers,
    pub(crate) flights: Flights,
    pub(crate) pending: Pending,
    pub(crate) stats: Stats,
    pub(crate) warnings: Throttle,
}

impl Cache {
    /// Starts configuring a cache.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A cache configured from the environment; never fails.
    ///
    /// - `REDIS_URL` (`redis://` or `rediss://`): Redis, connected lazily: the program
    ///   starts even if Redis is down and begins caching once it answers.
    /// - `REDIS_CLUSTER_URLS`: a Redis Cluster instead, as comma-separated node URLs
    ///   (`redis://10.0.0.1:6379,redis://10.0.0.2:6379`); it wins over `REDIS_URL`.
    /// - `REDIS_TLS_CA_FILE`, and `REDIS_TLS_CERT_FILE` with `REDIS_TLS_KEY_FILE`: PEM
    ///   files for a private CA and a client certificate (see
    ///   [`CacheBuilder::tls_ca_file`], [`CacheBuilder::tls_client_cert`]).
    /// - `CACHE_NAMESPACE`: the namespace (default: none).
    /// - Without either, or if it does not parse: the in-process memory store
    ///   (a malformed URL is logged at `error`).
    pub async fn from_env() -> Cache {
        let mut builder = Cache::builder();
        if let Ok(namespace) = std::env::var("CACHE_NAMESPACE") {
            builder = builder.namespace(namespace);
        }
        if let Ok(ca) = std::env::var("REDIS_TLS_CA_FILE") {
            builder = builder.tls_ca_file(ca);
        }
        if let (Ok(cert), Ok(key)) = (
            std::env::var("REDIS_TLS_CERT_FILE"),
            std::env::var("REDIS_TLS_KEY_FILE"),
        ) {
            builder = builder.tls_client_cert(cert, key);
        }
        let var = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
        let (target, name) = if let Some(urls) = var("REDIS_CLUSTER_URLS") {
            let urls = urls.split(',').map(str::trim).filter(|url| !url.is_empty());
            (builder.clone().cluster_urls(urls), "REDIS_CLUSTER_URLS")
        } else if let Some(url) = var("REDIS_URL") {
            (builder.clone().redis_url(url), "REDIS_URL")
        } else {
            return memory_fallback(builder).await;
        };
        match target.lazy().build().await {
            Ok(cache) => cache,
            Err(error) => {
                tracing::error!(%error, variable = name, "the Redis configuration is unusable; caching in process memory instead");
                memory_fallback(builder).await
            }
        }
    }

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
        self.inner.stats.snapshot()
    }

    /// How many invalidations wait for Redis to come back.
    pub fn pending_invalidations(&self) -> usize {
        self.inner.pending.count()
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
        self.inner
            .guarded_wide(self.inner.backend.delete_pattern(&pattern))
            .await
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
    pub async fn get_or_set<T, F, Fut>(&self, key: &str, ttl: Duration, loader: F) -> T
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let parts = KeyParts::new();
        let site = UserSite { key, ttl };
        self.inner
            .read_through::<crate::outcome::ValueMode<T>, _>(&site, &parts, async move {
                loader().await
            })
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
        self.inner
            .read_through::<crate::outcome::ResultMode<Result<T, E>>, _>(
                &site,
                &parts,
                async move { loader().await },
            )
            .await
    }

    // ----- invalidation ----------------------------------------------------------------

    /// Invalidates every entry of `prefix` cached for `scope` (the value of `key = ...`),
    /// in O(1). Other scopes stay cached. If Redis cannot be reached the invalidation is
    /// kept and retried, and this process serves that scope from the source until it
    /// lands.
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
        let target = Target::of_parts(&self.inner.namespace, prefix, &parts);
        self.inner.invalidate(vec![target]).await
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
        self.inner.invalidate(vec![target]).await
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

async fn memory_fallback(builder: CacheBuilder) -> Cache {
    builder.memory().build_memory()
}

/// What a cached read needs to know about its call site.
pub(crate) trait CallSite {
    fn prefix(&self) -> &str;
    /// The prefix's counters in `inner`.
    fn counters(&self, inner: &Inner) -> Arc<Counters> {
        inner.stats.prefix(self.prefix())
    }
    fn ttl(&self) -> Duration;
    fn keys(&self, namespace: &str, parts: &KeyParts) -> CallKeys;
}

impl CallSite for crate::__private::Site {
    fn prefix(&self) -> &str {
        self.prefix
    }
    /// Remembers the counters of the last cache used at this site, which is the only one
    /// in most programs: the hit path then skips the map lookup.
    fn counters(&self, inner: &Inner) -> Arc<Counters> {
        if let Some((id, counters)) = self.counters.get()
            && *id == inner.id
        {
            return counters.clone();
        }
        let counters = inner.stats.prefix(self.prefix);
        let _ = self.counters.set((inner.id, counters.clone()));
        counters
    }
    fn ttl(&self) -> Duration {
        self.ttl
    }
    fn keys(&self, namespace: &str, parts: &KeyParts) -> CallKeys {
        key::call_keys(namespace, self.prefix, self.name, self.version, parts)
    }
}

/// `get_or_set` on a user key: no generations to honour, so both are empty and always
/// current; the stored value is plain JSON like [`Cache::set`]'s.
struct UserSite<'a> {
    key: &'a str,
    ttl: Duration,
}

impl CallSite for UserSite<'_> {
    fn prefix(&self) -> &str {
        self.key.split(':').next().unwrap_or(self.key)
    }
    fn counters(&self, inner: &Inner) -> Arc<Counters> {
        inner.stats.user_key(self.key)
    }
    fn ttl(&self) -> Duration {
        self.ttl
    }
    fn keys(&self, namespace: &str, _: &KeyParts) -> CallKeys {
        CallKeys::plain(key::user_key(namespace, self.key))
    }
}

impl Inner {
    /// Runs one backend operation on `key` (or on keys in its slot) through the breaker
    /// that guards it, reporting its outcome.
    pub(crate) async fn guarded<T>(
        &self,
        key: &str,
        op: impl Future<Output = Result<T, CacheError>>,
    ) -> Result<T, CacheError> {
        if !self.backend.is_remote() {
            return op.await;
        }
        let breaker = self.breakers.for_key(key);
        if breaker.permit() == Permit::Skip {
            return Err(CacheError::Unavailable);
        }
        let result = op.await;
        match &result {
            // A refusal is an answer: Redis is up.
            Ok(_) | Err(CacheError::Refused(_)) => breaker.success(),
            Err(error) if error.is_transport() => {
                if breaker.failure() {
                    tracing::warn!(
                        "cache: Redis keeps failing; skipping it and probing again later"
                    );
                }
            }
            Err(_) => {}
        }
        result
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

    /// Runs the function, counting and timing the load.
    async fn load<O>(counters: &Counters, fut: impl Future<Output = O>) -> O {
        let started = Instant::now();
        let out = fut.await;
        counters.load(started.elapsed());
        out
    }

    /// The cache-aside flow behind `#[cached]` and `get_or_set`.
    pub(crate) async fn read_through<M, F>(
        &self,
        site: &impl CallSite,
        parts: &KeyParts,
        fut: F,
    ) -> M::Output
    where
        M: Mode,
        F: Future<Output = M::Output>,
    {
        let counters = site.counters(self);
        if parts.is_invalid() {
            self.count_failure(&counters, "key", &CacheError::Unavailable);
            return Self::load(&counters, fut).await;
        }
        if self.backend.is_remote()
            && self
                .breakers
                .single()
                .is_some_and(|breaker| breaker.is_open())
        {
            // Redis is being skipped: not even the keys are built.
            counters.bypass();
            return Self::load(&counters, fut).await;
        }
        let keys = site.keys(&self.namespace, parts);
        let (prefix_generation, scope_generation) = match self
            .read(site.prefix(), &keys, &counters)
            .await
        {
            Read::Hit {
                raw,
                payload_at,
                codec,
                prefix,
                scope,
            } => {
                let payload = match keys.is_plain() {
                    true => Payload::plain(),
                    false => Payload::entry(codec),
                };
                match payload.decode::<M::Stored>(&raw[payload_at..]) {
                    Ok(value) => {
                        counters.hit();
                        tracing::debug!(key = keys.entry(), "cache hit");
                        return M::restore(value);
                    }
                    Err(error) => {
                        // Written by another shape of the type: a miss, overwritten below.
                        counters.decode_error();
                        tracing::debug!(key = keys.entry(), %error, "cache entry of another type; reloading");
                        (prefix, scope)
                    }
                }
            }
            Read::Miss { prefix, scope } => (prefix, scope),
            Read::Bypass => return Self::load(&counters, fut).await,
        };
        tracing::debug!(key = keys.entry(), "cache miss");

        let mut flight_key = Vec::with_capacity(
            keys.entry().len() + prefix_generation.len() + scope_generation.len() + 2,
        );
        flight_key.extend_from_slice(keys.entry().as_bytes());
        for generation in [&prefix_generation, &scope_generation] {
            flight_key.push(0);
            flight_key.extend_from_slice(generation);
        }
        // User keys of get_or_set hold plain JSON; the attributes' entries use the codec.
        let payload = match keys.is_plain() {
            true => Payload::plain(),
            false => Payload::entry(self.codec),
        };
        let role = self.flights.join(flight_key);
        // Counted once the call has joined the flight: a miss counted is a caller that
        // will share the load under way (what the single-flight test waits for).
        counters.miss();
        match role {
            Role::Leader(leader) => {
                let out = Self::load(&counters, fut).await;
                let stored = match M::stored(&out).map(|value| payload.encode(value)) {
                    Some(Ok(payload)) => Some(payload),
                    Some(Err(error)) => {
                        self.count_failure(&counters, "encode", &CacheError::from(error));
                        None
                    }
                    None => None,
                };
                let Some(bytes) = stored else {
                    leader.publish(None);
                    return out;
                };
                let payload_codec = payload.codec();
                let (value, payload_at) = if keys.is_plain() {
                    (Bytes::from(bytes), 0)
                } else {
                    let envelope =
                        entry::encode(payload_codec, &prefix_generation, &scope_generation, &bytes);
                    let at = envelope.len() - bytes.len();
                    (Bytes::from(envelope), at)
                };
                leader.publish(Some(value.slice(payload_at..)));
                if let Err(error) = self
                    .guarded(
                        keys.entry(),
                        self.backend.set(keys.entry(), value, site.ttl()),
                    )
                    .await
                {
                    self.count_failure(&counters, "fill", &error);
                }
                out
            }
            Role::Follower(follower) => {
                if let Some(bytes) = follower.wait().await
                    && let Ok(value) = payload.decode::<M::Stored>(&bytes)
                {
                    counters.coalesced();
                    return M::restore(value);
                }
                Self::load(&counters, fut).await
            }
        }
    }

    /// The read of a cached call: one `MGET` of both generations and the entry.
    async fn read(&self, prefix: &str, keys: &CallKeys, counters: &Counters) -> Read {
        if keys.is_plain() {
            // A user key of get_or_set: plain JSON, no generations.
            return match self
                .guarded(keys.entry(), self.backend.get(keys.entry()))
                .await
            {
                Ok(Some(raw)) => Read::Hit {
                    raw,
                    payload_at: 0,
                    codec: Codec::Json,
                    prefix: Bytes::new(),
                    scope: Bytes::new(),
                },
                Ok(None) => Read::Miss {
                    prefix: Bytes::new(),
                    scope: Bytes::new(),
                },
                Err(error) => {
                    self.count_failure(counters, "read", &error);
                    Read::Bypass
                }
            };
        }
        if !self.pending.is_empty()
            && self.pending.blocks(&[
                &key::prefix_marker(&self.namespace, prefix),
                keys.scope_generation(),
            ])
        {
            // Make sure a retry runs (its task may have died with a runtime).
            self.spawn_retry();
            counters.bypass();
            return Read::Bypass;
        }
        let read = self
            .guarded(
                keys.entry(),
                self.backend.mget(&[
                    keys.prefix_generation(),
                    keys.scope_generation(),
                    keys.entry(),
                ]),
            )
            .await;
        let mut values = match read {
            Ok(values) if values.len() == 3 => values.into_iter(),
            Ok(_) => {
                self.count_failure(counters, "read", &CacheError::Unavailable);
                return Read::Bypass;
            }
            Err(error) => {
                self.count_failure(counters, "read", &error);
                return Read::Bypass;
            }
        };
        let (prefix, scope, raw) = (
            values.next().flatten(),
            values.next().flatten(),
            values.next().flatten(),
        );
        let current = match (&prefix, &scope, &raw) {
            (Some(prefix), Some(scope), Some(raw)) => match entry::decode(raw) {
                Ok(entry) if entry.is_current(prefix, scope) => {
                    Some((raw.len() - entry.payload.len(), entry.codec))
                }
                Ok(_) => None, // filled under an older generation: invalidated
                Err(error) => {
                    counters.decode_error();
                    tracing::debug!(key = keys.entry(), %error, "corrupt cache entry; reloading");
                    None
                }
            },
            _ => None,
        };
        // Moved, not cloned: a clone of a `Bytes` made from a `Vec` allocates.
        match (current, raw, prefix, scope) {
            (Some((payload_at, codec)), Some(raw), Some(prefix), Some(scope)) => Read::Hit {
                raw,
                payload_at,
                codec,
                prefix,
                scope,
            },
            (_, _, prefix, scope) => match self
                .resolve_generations(keys, prefix, scope, counters)
                .await
            {
                Some((prefix, scope)) => Read::Miss { prefix, scope },
                None => Read::Bypass,
            },
        }
    }

    /// The generations to fill under, creating missing ones. This happens before the load
    /// starts: an invalidation during the load then replaces a generation the fill
    /// records, and the filled entry is never served.
    async fn resolve_generations(
        &self,
        keys: &CallKeys,
        prefix: Option<Bytes>,
        scope: Option<Bytes>,
        counters: &Counters,
    ) -> Option<(Bytes, Bytes)> {
        if keys.is_plain() {
            return Some((Bytes::new(), Bytes::new()));
        }
        let prefix = match prefix {
            Some(generation) => generation,
            None => {
                self.create_generation(keys.prefix_generation(), counters)
                    .await?
            }
        };
        let scope = match scope {
            Some(generation) => generation,
            None => {
                self.create_generation(keys.scope_generation(), counters)
                    .await?
            }
        };
        Some((prefix, scope))
    }

    /// Creates a missing generation key with a fresh token (`SET NX GET`), or returns the
    /// one another caller created first. A missing key is never read as an old value.
    async fn create_generation(&self, key: &str, counters: &Counters) -> Option<Bytes> {
        let token = generation::fresh();
        match self
            .guarded(
                key,
                self.backend.set_nx_get(key, &token, self.generation_ttl),
            )
            .await
        {
            Ok(Some(existing)) => Some(existing),
            Ok(None) => Some(Bytes::from(token)),
            Err(error) => {
                self.count_failure(counters, "generation", &error);
                None
            }
        }
    }
}
