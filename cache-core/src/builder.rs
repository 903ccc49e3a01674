//! [`CacheBuilder`]: how a [`Cache`] is configured.

use crate::backend::{Backend, MemoryBackend, RedisBackend, RedisConfig, TlsFiles};
use crate::breaker::Breaker;
use crate::cache::{Cache, Inner};
use crate::codec::Codec;
use crate::error::{CacheError, redact};
use crate::throttle::Throttle;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    redis_url: Option<String>,
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
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            redis_url: None,
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
        }
    }
}

impl CacheBuilder {
    /// Use Redis at `url` (`redis://[user:password@]host[:port][/db]`, or `rediss://` for
    /// TLS).
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }

    /// Use the in-process memory store (the default when no URL is given).
    pub fn memory(mut self) -> Self {
        self.redis_url = None;
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

    /// The memory store's bound, in bytes of keys and values (default 64 MiB).
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

    /// How the attributes serialize cached values (default JSON; MessagePack with the
    /// `msgpack` feature). Entries written with the other codec are still read.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Builds the cache, connecting to Redis unless [`CacheBuilder::lazy`].
    ///
    /// Fails only on what a person must fix: a malformed URL, a bad namespace, bad TLS
    /// set-up, wrong credentials, or (when not lazy) Redis unreachable.
    pub async fn build(self) -> Result<Cache, CacheError> {
        check_namespace(&self.namespace)?;
        let Some(url) = self.redis_url.clone() else {
            return Ok(self.build_memory());
        };
        let config = RedisConfig {
            url,
            op_timeout: self.op_timeout,
            connect_timeout: self.connect_timeout,
            lazy: self.lazy,
            tls: self.tls.clone(),
        };
        let backend = RedisBackend::connect(&config).await?;
        tracing::info!(url = %redact(&config.url), namespace = %self.namespace, lazy = self.lazy, "cache: using Redis");
        Ok(self.finish(Backend::Redis(backend)))
    }

    /// The memory cache, which needs no I/O to build.
    pub(crate) fn build_memory(self) -> Cache {
        let backend = Backend::Memory(MemoryBackend::new(self.memory_capacity));
        self.finish(backend)
    }

    fn finish(self, backend: Backend) -> Cache {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Cache::from_inner(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            backend,
            namespace: self.namespace,
            generation_ttl: self.generation_ttl,
            codec: self.codec,
            breaker: Breaker::new(self.breaker_threshold, self.breaker_open_for),
            flights: Default::default(),
            pending: Default::default(),
            stats: Default::default(),
            warnings: Throttle::new(Duration::from_secs(10)),
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
