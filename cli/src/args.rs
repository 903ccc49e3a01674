//! The command line, as clap reads it.

use clap::{Parser, Subcommand};

/// Look into and operate the caches of one namespace: what they hold, how they do, and
/// whether the fleet agrees. Configured like the library: `REDIS_URL` or
/// `REDIS_CLUSTER_URLS`, `CACHE_NAMESPACE`, and `CACHE_ENCRYPTION_KEYS` (with
/// `CACHE_SENSITIVE_PREFIXES`) to open sealed values.
#[derive(Debug, Parser)]
#[command(name = "cache", version, about)]
pub struct Args {
    /// Print JSON (one document; `top`: one line per refresh) for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hit rate, loads, invalidations, local hits, stale values served, consistency, per
    /// prefix and per site, summed over the live processes of the namespace.
    Stats,
    /// `stats` as rates, refreshed in the terminal, busiest sites first.
    Top {
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 2.0)]
        interval: f64,
        /// Stop after this many refreshes (default: until interrupted).
        #[arg(long)]
        iterations: Option<u64>,
    },
    /// The entries of a prefix, read back as calls: scope, name, arguments, size, TTL, and
    /// whether each is current or dead (invalidated).
    Keys {
        /// The prefix (`fmpa`).
        prefix: String,
        /// Only this scope's entries (the value of `key = ...`: `tenant-1`).
        #[arg(long)]
        scope: Option<String>,
        /// Only the entries that depend on this tag value (`item=42`).
        #[arg(long, value_name = "NAME=VALUE")]
        tag: Option<String>,
    },
    /// One entry: its call, envelope, generations (current or not) and value.
    Get {
        /// The entry's key, as `keys` prints it.
        key: String,
    },
    /// Invalidates through the library: exact, and announced to every in-process tier.
    Invalidate {
        /// The prefix.
        prefix: String,
        /// The scope to invalidate (the value of `key = ...`).
        scope: Option<String>,
        /// Invalidate the entries that depend on this tag value (`item=42`), in `SCOPE` or
        /// in every scope.
        #[arg(long, value_name = "NAME=VALUE")]
        tag: Option<String>,
        /// Invalidate the whole prefix, every scope (asks for confirmation).
        #[arg(long, conflicts_with_all = ["scope", "tag"])]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Examines Redis and the fleet; exits 1 on a problem.
    Doctor,
}

/// `NAME=VALUE`, split.
pub fn tag(spec: &str) -> Result<(String, String), String> {
    match spec.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("a tag is NAME=VALUE (item=42), not {spec:?}")),
    }
}
