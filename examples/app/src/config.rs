//! What the app reads from its environment: where it listens, its database, its seed, its
//! tokens' secret, and what its cache is before `REDIS_URL`, `CACHE_*` and the rest
//! ([`cache_defaults`]).

use crate::credentials;
use crate::db::SeedScale;
use crate::prefix;
use cache_core::{Cache, CacheBuilder, EncryptionKeys};
use std::net::SocketAddr;

/// Where the app listens and what it serves from.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub seed: SeedScale,
    pub auth: credentials::AuthConfig,
}

impl Config {
    /// `BIND` (default 127.0.0.1:3000), `DATABASE_URL` (default an SQLite file
    /// `fmpa-app.db` in the working directory), `SEED_SCALE` (`realistic`, the default, or
    /// `small`), and the tokens' `AUTH_SECRET` and `AUTH_TOKEN_TTL`
    /// ([`credentials::AuthConfig::from_env`]).
    pub fn from_env() -> Result<Config, String> {
        let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
        let bind = bind
            .parse()
            .map_err(|e| format!("BIND={bind} is not an address: {e}"))?;
        let database_url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| "sqlite://fmpa-app.db?mode=rwc".to_owned());
        let seed = match std::env::var("SEED_SCALE").as_deref() {
            Ok("small") => SeedScale::SMALL,
            Ok("realistic") | Err(_) => SeedScale::REALISTIC,
            Ok(other) => return Err(format!("SEED_SCALE={other}: use `realistic` or `small`")),
        };
        Ok(Config {
            bind,
            database_url,
            seed,
            auth: credentials::AuthConfig::from_env()?,
        })
    }
}

/// Declares the app's sensitive prefixes on `builder`: `session` (the open sessions,
/// keyed by a bearer secret) and `user` (profiles, with emails). Every instance must
/// declare them, so that reads and invalidations name the same keys.
pub fn declare_sensitive(builder: CacheBuilder) -> CacheBuilder {
    builder
        .sensitive_prefix(prefix::SESSION)
        .sensitive_prefix(prefix::USER)
}

/// What the app's cache is before the environment's settings ([`Cache::from_env_with`]):
/// a 64 MiB in-process tier for the reads marked `l1` (`CACHE_L1_BYTES=0`: none), the
/// sensitive prefixes, and, when the cache will be this process's memory (no `REDIS_URL`
/// nor `REDIS_CLUSTER_URLS`) and no `CACHE_ENCRYPTION_KEYS` is set, a key of this process's
/// own: nothing leaves the process then. With Redis and no keys, the sensitive prefixes
/// are not cached (the library fails closed).
pub fn cache_defaults() -> CacheBuilder {
    let builder = declare_sensitive(Cache::builder().l1(64 << 20));
    let set = |name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    if set("CACHE_ENCRYPTION_KEYS") || set("REDIS_URL") || set("REDIS_CLUSTER_URLS") {
        builder
    } else {
        builder
            .encryption_keys(EncryptionKeys::new().with_key("process", credentials::random_bytes()))
    }
}
