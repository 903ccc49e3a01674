//! [`crate::Cache::from_env`]: a cache configured from the environment, never failing.

use super::CacheBuilder;
use crate::cache::Cache;
use crate::error::CacheError;
use crate::sensitive::EncryptionKeys;
use std::time::Duration;

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
    /// - `CACHE_ENCRYPTION_KEYS` (`id:base64,...`, 32-byte keys, the first seals),
    ///   `CACHE_NAMING_KEY` (`id:base64`, the key that names sensitive arguments when it is
    ///   not the last of them, see [`EncryptionKeys::with_naming_key`]) and
    ///   `CACHE_SENSITIVE_PREFIXES` (`session,user`): see [`CacheBuilder::encryption_keys`]
    ///   and [`CacheBuilder::sensitive_prefix`]. Keys that do not parse are logged (which
    ///   entry, never a key) and none is used.
    /// - `CACHE_L1_BYTES`: the size of the in-process tier ([`CacheBuilder::l1`]; 0 for
    ///   none, the default), and `CACHE_L1_BOUND_MS` its staleness bound δ in milliseconds
    ///   ([`CacheBuilder::l1_bound`]). Used with Redis only.
    /// - `CACHE_CHECK_CONSISTENCY`: the share of hits the consistency checker samples
    ///   (`0.01`; [`CacheBuilder::check_consistency`]), and `CACHE_CONSISTENCY_WINDOW_MS`
    ///   its settling window ([`CacheBuilder::consistency_window`]).
    /// - Without either, or if it does not parse: the in-process memory store
    ///   (a malformed URL is logged at `error`).
    pub async fn from_env() -> Cache {
        Cache::from_env_with(Cache::builder()).await
    }

    /// [`Cache::from_env`] on top of `defaults`: what the environment sets wins, the rest
    /// (the size of an `l1` tier, timeouts, a codec) is `defaults`'s.
    pub async fn from_env_with(defaults: CacheBuilder) -> Cache {
        from_env_with(defaults).await
    }
}

impl CacheBuilder {
    /// This builder with what the environment sets, read as [`Cache::from_env`] reads
    /// it, but strictly: keys that do not parse are an error, and the Redis named by
    /// `REDIS_CLUSTER_URLS` or `REDIS_URL` is the target (not connected lazily unless
    /// [`CacheBuilder::lazy`]); without either, the target stays as it was. For tools
    /// that must fail rather than fall back (the `cache` command line).
    pub fn env(self) -> Result<CacheBuilder, CacheError> {
        let (builder, keys) = apply(self);
        if let Some(error) = keys {
            return Err(error);
        }
        Ok(match target(&builder) {
            Some((target, _)) => target,
            None => builder,
        })
    }
}

/// What the environment sets but the target, and the error of keys that do not parse
/// (none of them is then used).
fn apply(defaults: CacheBuilder) -> (CacheBuilder, Option<CacheError>) {
    let mut builder = defaults;
    let mut keys_error = None;
    if let Some(bytes) = std::env::var("CACHE_L1_BYTES")
        .ok()
        .and_then(|bytes| bytes.trim().parse::<u64>().ok())
    {
        builder = builder.l1(bytes);
    }
    if let Some(millis) = std::env::var("CACHE_L1_BOUND_MS")
        .ok()
        .and_then(|millis| millis.trim().parse::<u64>().ok())
        .filter(|&millis| millis > 0)
    {
        builder = builder.l1_bound(Duration::from_millis(millis));
    }
    if let Some(rate) = std::env::var("CACHE_CHECK_CONSISTENCY")
        .ok()
        .and_then(|rate| rate.trim().parse::<f64>().ok())
    {
        builder = builder.check_consistency(rate);
    }
    if let Some(millis) = std::env::var("CACHE_CONSISTENCY_WINDOW_MS")
        .ok()
        .and_then(|millis| millis.trim().parse::<u64>().ok())
    {
        builder = builder.consistency_window(Duration::from_millis(millis));
    }
    if let Ok(spec) = std::env::var("CACHE_ENCRYPTION_KEYS")
        && !spec.trim().is_empty()
    {
        let naming = std::env::var("CACHE_NAMING_KEY")
            .ok()
            .filter(|spec| !spec.trim().is_empty());
        let keys = EncryptionKeys::parse(&spec).and_then(|keys| match &naming {
            Some(naming) => keys.parse_naming_key(naming),
            None => Ok(keys),
        });
        match keys {
            Ok(keys) => builder = builder.encryption_keys(keys),
            Err(error) => keys_error = Some(error),
        }
    }
    if let Ok(prefixes) = std::env::var("CACHE_SENSITIVE_PREFIXES") {
        for prefix in prefixes.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            builder = builder.sensitive_prefix(prefix);
        }
    }
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
    (builder, keys_error)
}

/// The builder on the Redis the environment names, and the variable that names it.
fn target(builder: &CacheBuilder) -> Option<(CacheBuilder, &'static str)> {
    let var = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
    if let Some(urls) = var("REDIS_CLUSTER_URLS") {
        let urls = urls.split(',').map(str::trim).filter(|url| !url.is_empty());
        Some((builder.clone().cluster_urls(urls), "REDIS_CLUSTER_URLS"))
    } else {
        var("REDIS_URL").map(|url| (builder.clone().redis_url(url), "REDIS_URL"))
    }
}

/// [`Cache::from_env_with`].
async fn from_env_with(defaults: CacheBuilder) -> Cache {
    let (builder, keys) = apply(defaults);
    if let Some(error) = keys {
        tracing::error!(
            %error,
            "cache: CACHE_ENCRYPTION_KEYS or CACHE_NAMING_KEY is unusable; sensitive prefixes are not cached"
        );
    }
    let Some((target, name)) = target(&builder) else {
        tracing::info!(
            "cache: in-process memory (REDIS_URL and REDIS_CLUSTER_URLS are unset); it is per process: other processes see neither its entries nor its invalidations"
        );
        return memory_fallback(builder);
    };
    let shown = format!("{:?}", target.target);
    match target.lazy().build().await {
        Ok(cache) => {
            tracing::info!(
                backend = shown,
                variable = name,
                "cache: Redis, connected lazily (caching starts when it answers)"
            );
            cache
        }
        Err(error) => {
            tracing::error!(%error, variable = name, "cache: the Redis configuration is unusable; caching in process memory instead (per process: other processes see neither its entries nor its invalidations)");
            memory_fallback(builder)
        }
    }
}

/// The memory cache `from_env` falls back to (no I/O to build).
fn memory_fallback(builder: CacheBuilder) -> Cache {
    builder.memory().build_memory()
}
