//! [`CacheBuilder`]: how a [`Cache`] is configured.

mod env;
mod operations;
mod resilience;
mod throughput;

use crate::backend::{Backend, MemoryBackend, RedisBackend, RedisConfig, TlsFiles};
use crate::breaker::Breakers;
use crate::cache::Cache;
use crate::codec::Codec;
use crate::error::{CacheError, redact};
use crate::fail_safe::FailSafe;
use crate::inner::Inner;
use crate::l1::Tier;
use crate::lease::Leases;
use crate::sensitive::Sensitive;
use crate::sensitive::{EncryptionKeys, Keyring};
use crate::throttle::Throttle;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where a cache keeps its entries.
#[derive(Clone)]
enum Target {
    Memory,
    Redis(String),
    Cluster(Vec<String>),
}

/// URLs are shown with their passwords hidden.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Memory => f.write_str("Memory"),
            Target::Redis(url) => f.debug_tuple("Redis").field(&redact(url)).finish(),
            Target::Cluster(urls) => {
                let shown: Vec<String> = urls.iter().map(|url| redact(url)).collect();
                f.debug_tuple("Cluster").field(&shown).finish()
            }
        }
    }
}

/// Configures a [`Cache`]; start with [`Cache::builder`].
///
/// ```no_run
/// # async fn demo() -> Result<(), cache_core::CacheError> {
/// use cache_core::Cache;
/// use std::time::Duration;
///
/// let cache = Cache::builder()
///     .redis_url("redis://127.0.0.1:6379")
///     .namespace("myapp")
///     .op_timeout(Duration::from_millis(50))
///     .build()
///     .await?;
/// cache_core::install(cache.clone());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheBuilder {
    target: Target,
    namespace: String,
    op_timeout: Duration,
    connect_timeout: Duration,
    lazy: bool,
    memory_capacity: u64,
    generation_ttl: Duration,
    breaker_threshold: u32,
    breaker_open_for: Duration,
    codec: Codec,
    tls: TlsFiles,
    replica_acks: u32,
    l1_max_bytes: u64,
    l1_bound: Duration,
    encryption_keys: EncryptionKeys,
    sensitive_prefixes: Vec<String>,
    fleet_period: Duration,
    fail_safe: Duration,
    fail_safe_throttle: Duration,
    jitter: f64,
    lease: Duration,
    publish_stats: bool,
    consistency_rate: f64,
    consistency_window: Duration,
    coalesce_hits: bool,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            target: Target::Memory,
            namespace: String::new(),
            op_timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(2),
            lazy: false,
            memory_capacity: 64 * 1024 * 1024,
            generation_ttl: Duration::from_secs(7 * 24 * 60 * 60),
            breaker_threshold: 5,
            breaker_open_for: Duration::from_millis(500),
            codec: Codec::Json,
            tls: TlsFiles::default(),
            replica_acks: 0,
            l1_max_bytes: 0,
            l1_bound: Duration::from_secs(1),
            encryption_keys: EncryptionKeys::new(),
            sensitive_prefixes: Vec::new(),
            fleet_period: Duration::from_secs(5),
            fail_safe: Duration::ZERO,
            fail_safe_throttle: crate::fail_safe::DEFAULT_THROTTLE,
            jitter: 0.0,
            lease: Duration::ZERO,
            publish_stats: true,
            consistency_rate: 0.0,
            consistency_window: Duration::from_secs(2),
            coalesce_hits: true,
        }
    }
}

impl CacheBuilder {
    /// Use Redis at `url` (`redis://[user:password@]host[:port][/db]`, or `rediss://` for
    /// TLS).
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.target = Target::Redis(url.into());
        self
    }

    /// Use a Redis Cluster, reached through some of its nodes (`redis://host:port`, or
    /// `rediss://` for TLS; one is enough, the others are discovered). Entries of one
    /// (prefix, scope) live in one slot, so a hit is still one single-slot `MGET`; a
    /// master that is down only turns the calls whose keys it serves into misses.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), cache_core::CacheError> {
    /// let cache = cache_core::Cache::builder()
    ///     .cluster_urls(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn cluster_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.target = Target::Cluster(urls.into_iter().map(Into::into).collect());
        self
    }

    /// Use the in-process memory store (the default when no URL is given).
    pub fn memory(mut self) -> Self {
        self.target = Target::Memory;
        self
    }

    /// Prepended, with a `:`, to every key, including the keys and patterns given to
    /// `get`, `set`, `delete_pattern`, ... Letters, digits and `_ . - : /`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The deadline of each Redis call (default 100 ms). A call past it counts as a
    /// failure and the caller carries on without the cache.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long connecting may take (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Start without Redis: `build()` does not connect, calls run the function until
    /// Redis answers, then caching begins. Only a malformed URL still fails `build()`.
    pub fn lazy(mut self) -> Self {
        self.lazy = true;
        self
    }

    /// The memory store's bound, in bytes of entries' keys and values (default 64 MiB);
    /// its generations are kept apart, within a quarter of that again (a generation dropped
    /// to keep that bound only turns its scope's entries into misses).
    pub fn memory_capacity(mut self, bytes: u64) -> Self {
        self.memory_capacity = bytes;
        self
    }

    /// How long a generation key lives after its last invalidation (default 7 days).
    /// Entries outliving it become misses, never stale hits.
    pub fn generation_ttl(mut self, ttl: Duration) -> Self {
        self.generation_ttl = ttl;
        self
    }

    /// Open the breaker after `failures` consecutive Redis failures, skipping Redis for
    /// `open_for` before probing it again (default: 5 failures, 500 ms).
    pub fn breaker(mut self, failures: u32, open_for: Duration) -> Self {
        self.breaker_threshold = failures;
        self.breaker_open_for = open_for;
        self
    }

    /// For `rediss://`: trust the CA in this PEM file (a private CA, a self-signed
    /// server) instead of the system's root certificates.
    pub fn tls_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca = Some(path.into());
        self
    }

    /// For `rediss://` servers that ask for a client certificate: the certificate and its
    /// key, PEM files.
    pub fn tls_client_cert(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls.client = Some((cert.into(), key.into()));
        self
    }

    /// Invalidations wait until `replicas` replicas of the master hold them (Redis
    /// `WAIT`, within [`CacheBuilder::op_timeout`]), so that a failover to a replica
    /// cannot lose an invalidation that returned. One that is not acknowledged in time
    /// returns [`CacheError::NotReplicated`] from the `try_*` calls and is kept like one
    /// that failed: this process serves that scope from the source, and retries remove the
    /// generation again (at most one more miss each) until replicas hold it. Each removal
    /// and its `WAIT` go in one pipeline on one connection, so an acknowledgement always
    /// counts the write it follows.
    ///
    /// Default 0: do not wait. A master that dies right after an invalidation may then
    /// take it with it, and the entries it hid are served again until their TTL.
    ///
    /// Only for a Redis with replicas (a cluster, or a replicated server). While a shard
    /// has fewer replicas than asked (after a failover, until the old master returns as
    /// a replica), its invalidations stay pending in the process that made them. Hits are
    /// not slowed: generation writes and their `WAIT` use a connection of their own.
    pub fn wait_for_replicas(mut self, replicas: u32) -> Self {
        self.replica_acks = replicas;
        self
    }

    /// How the attributes serialize cached values (default JSON; MessagePack with the
    /// `msgpack` feature). Entries written with the other codec are still read.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Gives the cache an in-process tier of at most `max_bytes` (by the encoded size of
    /// its values) in front of Redis, for the `#[cached(l1 = "30s")]` sites: their hits
    /// are then served from this process, without a round trip, while they are known to
    /// be current ([`CacheBuilder::l1_bound`]). 0 (the default) means no tier. Ignored by
    /// the in-process memory backend, which is in process already.
    pub fn l1(mut self, max_bytes: u64) -> Self {
        self.l1_max_bytes = max_bytes;
        self
    }

    /// The staleness bound δ of the in-process tier (default 1 s): after an invalidation
    /// returns in one process, another serves the old value of an `l1` site for at most
    /// δ. Each process publishes a heartbeat every δ/4 and serves its tier only while its
    /// last heartbeat came back less than δ ago. Sites without `l1` are exact, as always.
    pub fn l1_bound(mut self, bound: Duration) -> Self {
        self.l1_bound = bound;
        self
    }

    /// The keys that seal the values of sensitive prefixes (the first seals, all open;
    /// see [`EncryptionKeys`]). Without keys, sensitive sites are not cached at all.
    pub fn encryption_keys(mut self, keys: EncryptionKeys) -> Self {
        self.encryption_keys = keys;
        self
    }

    /// Declares `prefix` sensitive: its values are sealed with the
    /// [`CacheBuilder::encryption_keys`] (the entry's key as associated data), and its key
    /// arguments appear in key names only as a keyed hash, for reads and invalidations
    /// alike. Declare it in every process that reads or invalidates the prefix. Without
    /// keys, nothing of the prefix is cached.
    pub fn sensitive_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sensitive_prefixes.push(prefix.into());
        self
    }

    /// How often a Redis cache publishes its manifest for its namespace's fleet and reads
    /// its peers' (default 5 s; a manifest lives three periods). A peer whose key names
    /// would differ from this cache's for the same call (another key format, a prefix
    /// sensitive on one side only, another naming key) is logged at `error` with both
    /// sides named and counted ([`crate::CacheStats::fleet`]); a cache that joins such a
    /// fleet refuses the prefixes in dispute (not cached, invalidated whole) until the
    /// dispute is gone. See [`crate::Cache::fleet`]. One small script per period.
    pub fn fleet_period(mut self, period: Duration) -> Self {
        self.fleet_period = period;
        self
    }

    /// Builds the cache, connecting to Redis unless [`CacheBuilder::lazy`].
    ///
    /// Fails only on what a person must fix: a malformed URL, a bad namespace, bad TLS
    /// set-up, wrong credentials, or (when not lazy) Redis unreachable.
    pub async fn build(self) -> Result<Cache, CacheError> {
        check_namespace(&self.namespace)?;
        let (urls, cluster) = match &self.target {
            Target::Memory => return Ok(self.build_memory()),
            Target::Redis(url) => (vec![url.clone()], false),
            Target::Cluster(urls) => (urls.clone(), true),
        };
        let config = RedisConfig {
            urls,
            cluster,
            op_timeout: self.op_timeout,
            connect_timeout: self.connect_timeout,
            lazy: self.lazy,
            tls: self.tls.clone(),
            replica_acks: self.replica_acks,
            coalesce: self.coalesce_hits,
        };
        let backend = RedisBackend::connect(&config).await?;
        let shown: Vec<String> = config.urls.iter().map(|url| redact(url)).collect();
        tracing::info!(urls = ?shown, cluster, namespace = %self.namespace, lazy = self.lazy, l1_bytes = self.l1_max_bytes, "cache: using Redis");
        let lazy = self.lazy;
        let cache = self.finish(Backend::Redis(backend));
        if cache.inner.tier.is_some() {
            crate::l1::backplane::start(&cache.inner);
        }
        if !lazy && let Err(error) = crate::fleet::exchange::once(&cache.inner).await {
            tracing::warn!(%error, "cache: the fleet's manifests could not be exchanged at start; trying again in the background (sensitive prefixes are not cached until then)");
        }
        crate::fleet::exchange::start(&cache.inner);
        Ok(cache)
    }

    /// The memory cache, which needs no I/O to build.
    pub(crate) fn build_memory(self) -> Cache {
        let backend = Backend::Memory(MemoryBackend::new(self.memory_capacity));
        self.finish(backend)
    }

    fn finish(self, backend: Backend) -> Cache {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let backend_is_cluster = backend.is_cluster();
        let tier = (backend.is_remote() && self.l1_max_bytes > 0)
            .then(|| Tier::new(self.l1_max_bytes, self.l1_bound, self.connect_timeout));
        // Longer than the tier's bound δ, whatever was asked.
        let consistency_window = match tier {
            Some(_) => self
                .consistency_window
                .max(self.l1_bound + Duration::from_millis(100)),
            None => self.consistency_window,
        };
        let channel = crate::l1::message::channel(&self.namespace);
        let leases = Leases::new(&self.namespace, self.lease, self.connect_timeout);
        let keyring = Keyring::new(&self.encryption_keys);
        let fleet = backend.is_remote().then(|| {
            let manifest = crate::fleet::Manifest {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                key_format: crate::key::FORMAT.to_owned(),
                sensitive: self.sensitive_prefixes.clone(),
                naming: keyring.as_ref().map(|ring| ring.fingerprint().to_owned()),
                keys: keyring
                    .as_ref()
                    .map(|ring| ring.ids().to_vec())
                    .unwrap_or_default(),
                l1_bound_ms: tier
                    .as_ref()
                    .map(|_| u64::try_from(self.l1_bound.as_millis()).unwrap_or(u64::MAX)),
                ..crate::fleet::Manifest::default()
            };
            crate::fleet::Fleet::new(&self.namespace, manifest, self.fleet_period)
                .publishing(self.publish_stats)
        });
        Cache::from_inner(|this| Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            this,
            backend,
            namespace: self.namespace,
            channel,
            generation_ttl: self.generation_ttl,
            codec: self.codec,
            breakers: Breakers::new(
                backend_is_cluster,
                self.breaker_threshold,
                self.breaker_open_for,
            ),
            flights: Default::default(),
            pending: Default::default(),
            stats: Default::default(),
            warnings: Throttle::new(Duration::from_secs(10)),
            tier,
            sensitive: Sensitive::new(self.sensitive_prefixes.into_iter().collect(), keyring),
            fleet,
            fail_safe: FailSafe::new(self.fail_safe, self.fail_safe_throttle, self.jitter),
            consistency: crate::consistency::Checker::new(
                self.consistency_rate,
                consistency_window,
            ),
            leases,
            dropped: tokio::sync::watch::channel(()).0,
        })
    }
}

fn check_namespace(namespace: &str) -> Result<(), CacheError> {
    let ok = namespace
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-:/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CacheError::InvalidNamespace(namespace.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_hides_passwords() {
        let builder = crate::Cache::builder().redis_url("rediss://default:s3cret@h.io:6379");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("h.io:6379"), "{shown}");
        let cluster =
            crate::Cache::builder().cluster_urls(["redis://:s3cret@a:1", "redis://u:s3cret@b:2"]);
        let shown = format!("{cluster:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
