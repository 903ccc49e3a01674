//! `cache`, the command line of an operator: each command is a function over a
//! [`cache_core::Cache`] that writes to a writer, so that tests run them in process
//! against a real Redis. Nothing here knows the key format or how to invalidate: the
//! library does ([`cache_core::inspect`], [`cache_core::Cache::fleet_stats`]).

pub mod args;
mod commands;
mod show;

pub use args::{Args, Command};

use cache_core::{Cache, CacheBuilder, CacheError};
use std::io::Write;

/// How a command ended, for the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done (exit 0).
    Done,
    /// Done, and found a problem (`doctor`; exit 1).
    Problem,
}

/// What stops a command (exit 2).
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<CacheError> for Failure {
    fn from(error: CacheError) -> Self {
        Failure(error.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure(format!("cannot write the output: {error}"))
    }
}

/// Connects as the command line does: `builder` (configured from the environment by
/// `main`), publishing no statistics of its own, and declaring sensitive the prefixes the
/// fleet declares, so that it names their keys as the fleet does.
pub async fn connect(builder: CacheBuilder) -> Result<Cache, Failure> {
    let quiet = builder.publish_stats(false);
    let cache = quiet.clone().build().await?;
    let Some(report) = cache.fleet() else {
        return Err(Failure(String::from(
            "no Redis configured: set REDIS_URL or REDIS_CLUSTER_URLS",
        )));
    };
    let mut missing: Vec<String> = report
        .peers
        .iter()
        .flat_map(|peer| peer.sensitive.iter())
        .filter(|prefix| !report.manifest.sensitive.contains(prefix))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(cache);
    }
    missing.sort();
    missing.dedup();
    cache.leave_fleet().await;
    drop(cache);
    let declared = missing
        .into_iter()
        .fold(quiet, |builder, prefix| builder.sensitive_prefix(prefix));
    Ok(declared.build().await?)
}

/// Runs `args` on `cache`, writing to `out`.
pub async fn run(cache: &Cache, args: &Args, out: &mut dyn Write) -> Result<Outcome, Failure> {
    let json = args.json;
    match &args.command {
        Command::Stats => commands::stats::run(cache, json, out).await,
        Command::Top {
            interval,
            iterations,
        } => commands::top::run(cache, json, *interval, *iterations, out).await,
        Command::Keys { prefix, scope, tag } => {
            commands::keys::run(cache, json, prefix, scope.as_deref(), tag.as_deref(), out).await
        }
        Command::Get { key } => commands::get::run(cache, json, key, out).await,
        Command::Invalidate {
            prefix,
            scope,
            tag,
            all,
            yes,
        } => {
            let what = commands::invalidate::What::of(scope.as_deref(), tag.as_deref(), *all)?;
            commands::invalidate::run(cache, json, prefix, what, *yes, out).await
        }
        Command::Doctor => commands::doctor::run(cache, json, out).await,
    }
}
