//! The seed's multi-tenant API, for real: axum over sqlx (SQLite or PostgreSQL), with
//! every read `#[cached]` and every write `#[invalidates]` in [`repo::Repo`].
//!
//! `cargo run -p fmpa-app` starts it with no set-up (an embedded SQLite file, seeded on
//! first run, and the in-process cache); `DATABASE_URL=postgres://...` and
//! `REDIS_URL=redis://...` switch to PostgreSQL and Redis.
//!
//! Laid out as an axum app: [`config`] (the environment), [`state`] (what handlers
//! share), [`routes`] (one file per resource), [`extract`] (the caller, the tenant, ids,
//! bodies), [`repo`] (the cached reads and invalidating writes over [`db`]), [`prefix`] and
//! [`ttl`] (the app's cache prefixes and TTL classes), [`metrics`] (`/metrics`).

pub mod config;
pub mod credentials;
pub mod db;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod model;
pub mod prefix;
pub mod repo;
pub mod routes;
pub mod state;
pub mod ttl;

pub use config::{Config, cache_defaults, declare_sensitive};
pub use metrics::{UPKEEP_EVERY, upkeep};

use cache_core::Cache;
use db::Db;
use std::net::SocketAddr;
use tokio::task::JoinHandle;

/// A running app.
pub struct Running {
    pub addr: SocketAddr,
    pub repo: repo::Repo,
    pub seeded: bool,
    pub server: JoinHandle<std::io::Result<()>>,
}

/// Connects, prepares the database and starts serving on `config.bind`.
pub async fn start(
    config: &Config,
    cache: Cache,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    let db = Db::connect(&config.database_url).await?;
    // The first login of an unknown email must not take longer than the others.
    tokio::task::spawn_blocking(routes::unknown_account_hash);
    let seeded = db.prepare(config.seed).await?;
    let repo = repo::Repo::new(db, cache);
    let state = state::AppState {
        repo: repo.clone(),
        metrics: metrics::prometheus(),
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
