//! The seed's multi-tenant API, for real: axum over sqlx (SQLite or PostgreSQL), with
//! every read `#[cached]` and every write `#[invalidates]` in [`repo::Repo`].
//!
//! `cargo run -p fmpa-app` starts it with no set-up (an embedded SQLite file, seeded on
//! first run, and the in-process cache); `DATABASE_URL=postgres://...` and
//! `REDIS_URL=redis://...` switch to PostgreSQL and Redis.

pub mod auth;
pub mod caller;
pub mod db;
pub mod error;
pub mod login;
pub mod model;
pub mod repo;
pub mod routes;

use cache_core::{Cache, CacheBuilder, EncryptionKeys, prefix};
use db::{Db, SeedScale};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::OnceLock;
use tokio::task::JoinHandle;

/// Where the app listens and what it serves from.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub seed: SeedScale,
    pub auth: auth::AuthConfig,
}

impl Config {
    /// `BIND` (default 127.0.0.1:3000), `DATABASE_URL` (default an SQLite file
    /// `fmpa-app.db` in the working directory), `SEED_SCALE` (`realistic`, the default, or
    /// `small`), and the tokens' `AUTH_SECRET` and `AUTH_TOKEN_TTL`
    /// ([`auth::AuthConfig::from_env`]).
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
            auth: auth::AuthConfig::from_env()?,
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
        builder.encryption_keys(EncryptionKeys::new().with_key("process", auth::random_bytes()))
    }
}

/// A running app.
pub struct Running {
    pub addr: SocketAddr,
    pub repo: repo::Repo,
    pub seeded: bool,
    pub server: JoinHandle<std::io::Result<()>>,
}

/// The process's Prometheus recorder (the `metrics` facade has one per process), kept
/// bounded by [`upkeep`] whether or not anyone scrapes `/metrics`.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = upkeep(recorder.handle(), UPKEEP_EVERY);
            // Another recorder may be installed already (embedding programs, tests):
            // then /metrics shows what this one saw.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// How often the recorder's upkeep runs.
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the recorder's upkeep every `every`, on a thread of its own, for as long as the
/// process lives. A recorder built with `build_recorder()` keeps every histogram sample
/// (`cache_load_seconds`) until something drains them: a scrape's render, or this upkeep.
/// Without it, an app nobody scrapes grows by eight bytes per sample.
pub fn upkeep(handle: PrometheusHandle, every: std::time::Duration) -> PrometheusHandle {
    let kept = handle.clone();
    std::thread::Builder::new()
        .name("prometheus-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every); // the upkeep's period, not a synchronisation
                kept.run_upkeep();
            }
        })
        .expect("spawn the metrics upkeep thread");
    handle
}

/// Connects, prepares the database and starts serving on `config.bind`.
pub async fn start(
    config: &Config,
    cache: Cache,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    let db = Db::connect(&config.database_url).await?;
    // The first login of an unknown email must not take longer than the others.
    tokio::task::spawn_blocking(login::unknown_account_hash);
    let seeded = db.prepare(config.seed).await?;
    let repo = repo::Repo::new(db, cache);
    let state = routes::AppState {
        repo: repo.clone(),
        metrics: prometheus(),
        tokens: config.auth.tokens(),
    };
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let app = routes::router(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running {
        addr,
        repo,
        seeded,
        server,
    })
}
