//! What a cache publishes about itself ([`Manifest`]), what can go wrong between two
//! ([`Disagreement`]), and what [`crate::Cache::fleet`] and the statistics report.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What one cache of a namespace says about how it writes key names, published for its
/// peers ([`crate::Cache::fleet`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Manifest {
    /// The cache's name on the namespace, unique across processes.
    pub id: String,
    /// Which process: `pid <n> on <host>`.
    pub process: String,
    /// The library's version.
    pub version: String,
    /// The key format ([`crate::key::FORMAT`]).
    pub key_format: String,
    /// The prefixes declared sensitive, sorted.
    pub sensitive: Vec<String>,
    /// The fingerprint of the naming key, when this cache has encryption keys (it then
    /// hashes the arguments of its sensitive prefixes).
    pub naming: Option<String>,
    /// The ids of its encryption keys, the sealing one first (never the keys).
    pub keys: Vec<String>,
    /// Its in-process tier's bound δ, in milliseconds, if it has a tier.
    pub l1_bound_ms: Option<u64>,
    /// The prefixes its `#[cached]` sites have read or its invalidations named so far.
    pub used: Vec<String>,
    /// The prefixes it refuses now (not cached, invalidated whole).
    pub refused: Vec<String>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            id: String::new(),
            process: String::from("an unknown process"),
            version: String::new(),
            key_format: String::new(),
            sensitive: Vec::new(),
            naming: None,
            keys: Vec::new(),
            l1_bound_ms: None,
            used: Vec::new(),
            refused: Vec::new(),
        }
    }
}

/// A difference between this cache and a live peer that would break a promise: the two
/// write different key names for the same call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Disagreement {
    /// Another key format: neither one's entries nor invalidations meet the other's.
    KeyFormat {
        /// The peer, as its manifest names it.
        peer: String,
        /// This cache's format.
        ours: String,
        /// The peer's.
        theirs: String,
    },
    /// A prefix sensitive on one side (arguments hashed) and used plainly on the other.
    Sensitivity {
        /// The peer, as its manifest names it.
        peer: String,
        /// The prefix.
        prefix: String,
        /// Whether it is sensitive here (else, there).
        sensitive_here: bool,
    },
    /// Both hash the arguments of these sensitive prefixes, with different naming keys.
    Naming {
        /// The peer, as its manifest names it.
        peer: String,
        /// This cache's naming fingerprint and key ids.
        ours: String,
        /// The peer's.
        theirs: String,
        /// The prefixes sensitive on both sides.
        prefixes: Vec<String>,
    },
}

impl Disagreement {
    /// The peer it is with.
    pub fn peer(&self) -> &str {
        match self {
            Disagreement::KeyFormat { peer, .. }
            | Disagreement::Sensitivity { peer, .. }
            | Disagreement::Naming { peer, .. } => peer,
        }
    }

    /// The prefixes whose invalidations miss across it, that a joining cache refuses;
    /// none for another key format, which no refusal can bridge.
    pub(super) fn disputed(&self) -> Vec<&str> {
        match self {
            Disagreement::KeyFormat { .. } => Vec::new(),
            Disagreement::Sensitivity { prefix, .. } => vec![prefix],
            Disagreement::Naming { prefixes, .. } => prefixes.iter().map(String::as_str).collect(),
        }
    }
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disagreement::KeyFormat { peer, ours, theirs } => write!(
                f,
                "this process writes key format {ours}, {peer} writes {theirs}: neither one's invalidations reach the other's entries; run one version of the library per namespace (or give each its own CACHE_NAMESPACE)"
            ),
            Disagreement::Sensitivity {
                peer,
                prefix,
                sensitive_here,
            } => {
                let (here, there) = match sensitive_here {
                    true => ("sensitive (arguments hashed)", "plain"),
                    false => ("plain", "sensitive (arguments hashed)"),
                };
                write!(
                    f,
                    "prefix `{prefix}` is {here} in this process and {there} in {peer}: their invalidations of it miss each other's entries; declare it sensitive in every process that reads or invalidates it (CacheBuilder::sensitive_prefix, CACHE_SENSITIVE_PREFIXES)"
                )
            }
            Disagreement::Naming {
                peer,
                ours,
                theirs,
                prefixes,
            } => write!(
                f,
                "this process names the keys of sensitive prefixes {prefixes:?} with naming key {ours}, {peer} with {theirs}: their invalidations miss each other's entries; keep one naming key through a rotation (the last key, or CACHE_NAMING_KEY when it is retired: see README, Security)"
            ),
        }
    }
}

/// The fleet as this cache last saw it, from [`crate::Cache::fleet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FleetReport {
    /// This cache's manifest.
    pub manifest: Manifest,
    /// The live peers' manifests at the last exchange.
    pub peers: Vec<Manifest>,
    /// Their disagreements with this cache.
    pub disagreements: Vec<Disagreement>,
    /// The prefixes this cache refuses (not cached, invalidated whole) because of them.
    pub refused: Vec<String>,
    /// Whether an exchange has succeeded yet (before it, this cache's own sensitive
    /// prefixes are refused).
    pub checked: bool,
}

/// The fleet's part of [`crate::CacheStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct FleetStats {
    /// Live peers on the namespace at the last exchange.
    pub peers: u64,
    /// Disagreements found (each peer and kind once).
    pub disagreements: u64,
    /// Prefixes refused now because of one.
    pub refused: Vec<String>,
}

/// What this process says of itself in manifests: `pid <n> on <host>`.
pub(super) fn this_process() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| String::from("an unnamed host"));
    format!("pid {} on {host}", std::process::id())
}
