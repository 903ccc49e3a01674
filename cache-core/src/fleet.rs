//! The fleet checks itself: every Redis cache publishes, for its namespace, a small
//! [`Manifest`] (key format, sensitive prefixes, the fingerprint of its naming key, its
//! tier, the prefixes it has used) with a TTL, and reads its live peers'.
//!
//! Most differences between processes are fine (a tier or none, another δ, other sites):
//! every promise holds whatever the others are configured with. A few split the fleet,
//! because the two sides write different key names for the same call, so that one's
//! invalidations never reach the other's entries ([`Disagreement`]):
//!
//! - another key format (another version of the library, across a format change);
//! - a prefix sensitive in one process and used plainly in another;
//! - two naming keys for one sensitive prefix (a rotation that dropped the naming key:
//!   [`crate::EncryptionKeys`]).
//!
//! Each is logged once per peer at `error`, with both sides named, and counted
//! ([`crate::CacheStats::fleet`]). Where a refusal keeps the fleet exact, one side
//! **refuses** the prefixes in dispute: it does not cache them and invalidates them whole,
//! which reaches the other side's entries whatever their names:
//!
//! - a cache that does not declare a prefix sensitive refuses it while a live peer does
//!   (whether it used it yet or not: the peer is the configuration it must match);
//! - a cache that *joins* a fleet that disagrees with it (its first exchange, or the first
//!   after it was silent for longer than a manifest lives) refuses the sensitive prefixes
//!   a peer names otherwise, or uses plainly without refusing them, until that is over.
//!
//! When a refusal of a prefix this cache used ends, the prefix is invalidated whole once
//! more: entries it filled before may have missed the other side's invalidations. Until
//! its first exchange, a cache refuses its own sensitive prefixes
//! ([`crate::CacheBuilder::build`] awaits that exchange; a lazy cache makes it as soon as
//! Redis answers).
//!
//! A manifest lives three periods ([`crate::CacheBuilder::fleet_period`], default 5 s):
//! one script per period, on a hash of the namespace (`<namespace>:!fleet`) whose fields
//! are the live caches' manifests, expired ones removed by the same script.

use crate::error::CacheError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

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
    fn disputed(&self) -> Vec<&str> {
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
fn this_process() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| String::from("an unnamed host"));
    format!("pid {} on {host}", std::process::id())
}

/// The manifests' hash of `namespace`.
pub(crate) fn key(namespace: &str) -> String {
    match namespace.is_empty() {
        true => String::from("!fleet"),
        false => format!("{namespace}:!fleet"),
    }
}

/// How a Redis cache takes part in its fleet.
pub(crate) struct Fleet {
    pub key: String,
    /// This cache's manifest, but for what changes (`used`, `refused`).
    pub manifest: Manifest,
    pub period: Duration,
    /// Whether anything may be refused: the one load on the hot path.
    any_refused: AtomicBool,
    /// Whether an exchange has succeeded since start.
    checked: AtomicBool,
    state: RwLock<State>,
    /// The prefixes used so far.
    used: Mutex<BTreeSet<String>>,
    /// When the last exchange succeeded, in milliseconds since `epoch` plus one (0: never).
    last_ok: AtomicU64,
    epoch: Instant,
    /// Disagreements already logged (peer, and the disagreement's text).
    told: Mutex<HashSet<String>>,
    disagreements: AtomicU64,
}

/// What the last exchange found.
#[derive(Default)]
struct State {
    peers: Vec<Manifest>,
    disagreements: Vec<Disagreement>,
    /// The prefixes refused, and when (milliseconds on the fleet's clock) an exchange last
    /// gave a reason to: a refusal ends only once no exchange has for a manifest's
    /// lifetime, so that a fleet seen incomplete (Redis restarted and its manifests gone,
    /// a peer's publication late) never lifts one.
    refused: BTreeMap<String, u64>,
}

impl State {
    /// Everything refused.
    fn refused(&self) -> BTreeSet<String> {
        self.refused.keys().cloned().collect()
    }
}

/// What an exchange changed: the prefixes no longer refused that this cache used, to
/// invalidate whole once.
pub(crate) struct Released(pub Vec<String>);

impl Fleet {
    /// The fleet part of a cache whose own manifest is `manifest`.
    pub fn new(namespace: &str, mut manifest: Manifest, period: Duration) -> Fleet {
        manifest.id = crate::generation::fresh();
        manifest.process = this_process();
        manifest.sensitive.sort();
        manifest.sensitive.dedup();
        let refuse_unchecked = !manifest.sensitive.is_empty();
        Fleet {
            key: key(namespace),
            manifest,
            period,
            any_refused: AtomicBool::new(refuse_unchecked),
            checked: AtomicBool::new(false),
            state: RwLock::default(),
            used: Mutex::default(),
            last_ok: AtomicU64::new(0),
            epoch: Instant::now(),
            told: Mutex::default(),
            disagreements: AtomicU64::new(0),
        }
    }

    /// How long a manifest lives: three periods.
    pub fn ttl(&self) -> Duration {
        self.period * 3
    }

    /// Notes that this cache reads or invalidates `prefix` (published at the next
    /// exchange).
    pub fn note_use(&self, prefix: &str) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if !used.contains(prefix) && used.len() < 1024 {
            used.insert(prefix.to_owned());
        }
    }

    /// The manifest to publish now.
    pub fn encoded(&self) -> String {
        let mut manifest = self.manifest.clone();
        manifest.used = self
            .used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        manifest.refused = state.refused().into_iter().collect();
        serde_json::to_string(&manifest).unwrap_or_default()
    }

    /// Whether calls of `prefix` must not be cached here, and its invalidations must be
    /// whole: it is in dispute with the fleet, or (`sensitive_here`) not checked yet.
    pub fn refuses(&self, prefix: &str, sensitive_here: impl FnOnce() -> bool) -> bool {
        if !self.any_refused.load(Ordering::Acquire) {
            return false;
        }
        if !self.checked.load(Ordering::Acquire) && sensitive_here() {
            return true;
        }
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state.refused.contains_key(prefix)
    }

    /// Applies what an exchange returned (the live peers' manifests, as published);
    /// returns the prefixes whose refusal ended.
    pub fn apply(&self, namespace: &str, peers: &[String]) -> Released {
        let now = self.millis();
        let last = self.last_ok.swap(now + 1, Ordering::AcqRel);
        let ttl = u64::try_from(self.ttl().as_millis()).unwrap_or(u64::MAX);
        // Joining: the first exchange, or the first after this cache was silent for longer
        // than a manifest lives (peers may have started without seeing it).
        let joining = last == 0 || now.saturating_sub(last - 1) > ttl;
        let peers: Vec<Manifest> = peers
            .iter()
            .filter_map(|text| match serde_json::from_str::<Manifest>(text) {
                Ok(peer) => Some(peer),
                Err(error) => {
                    tracing::warn!(%error, namespace, "cache: an unreadable fleet manifest on the namespace (another version?); ignored");
                    None
                }
            })
            .filter(|peer| peer.id != self.manifest.id)
            .collect();
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut disagreements = Vec::new();
        let mut disputed = BTreeSet::new();
        for peer in &peers {
            for disagreement in compare(&self.manifest, &used, peer) {
                // What this cache refuses when it joins: its own sensitive prefixes that the
                // peer writes otherwise and does not refuse itself.
                let mine = match &disagreement {
                    Disagreement::Sensitivity {
                        sensitive_here: true,
                        prefix,
                        ..
                    } => vec![prefix.as_str()],
                    Disagreement::Naming { prefixes, .. } => {
                        prefixes.iter().map(String::as_str).collect()
                    }
                    _ => Vec::new(),
                };
                disputed.extend(
                    mine.into_iter()
                        .filter(|prefix| !peer.refused.iter().any(|r| r == prefix))
                        .map(str::to_owned),
                );
                disagreements.push(disagreement);
            }
        }
        // Declared sensitive by a live peer, not here: refused (this side's names are plain).
        let peers_sensitive = peers
            .iter()
            .flat_map(|peer| &peer.sensitive)
            .filter(|prefix| !self.manifest.sensitive.contains(prefix));
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let before = state.refused();
        // A running cache keeps refusing while a dispute lasts; it does not start to: the
        // peer that joined refuses.
        let reasons: Vec<String> = disputed
            .into_iter()
            .filter(|prefix| joining || state.refused.contains_key(prefix))
            .chain(peers_sensitive.cloned())
            .collect();
        for prefix in reasons {
            state.refused.insert(prefix, now);
        }
        state
            .refused
            .retain(|_, reason| now.saturating_sub(*reason) <= ttl);
        let after = state.refused();
        for disagreement in &disagreements {
            self.tell(namespace, disagreement, &after);
        }
        let released = before
            .difference(&after)
            .filter(|prefix| used.contains(*prefix))
            .cloned()
            .collect();
        state.peers = peers;
        state.disagreements = disagreements;
        self.any_refused.store(!after.is_empty(), Ordering::Release);
        self.checked.store(true, Ordering::Release);
        Released(released)
    }

    /// Logs `disagreement` once, at `error`, with both sides named.
    fn tell(&self, namespace: &str, disagreement: &Disagreement, refused: &BTreeSet<String>) {
        let told = format!("{}\u{0}{disagreement}", disagreement.peer());
        if !self
            .told
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(told)
        {
            return;
        }
        self.disagreements.fetch_add(1, Ordering::Relaxed);
        let refusing: Vec<&str> = disagreement
            .disputed()
            .into_iter()
            .filter(|prefix| refused.contains(*prefix))
            .collect();
        let consequence = match (refusing.is_empty(), disagreement) {
            (_, Disagreement::KeyFormat { .. }) => {
                String::from("no refusal keeps the two exact across formats: fix the deployment")
            }
            (true, _) => String::from(
                "the other process refuses the prefixes in dispute (not cached, invalidated whole) until this is fixed",
            ),
            (false, _) => format!(
                "this process refuses {refusing:?} (not cached, invalidated whole) until this is fixed"
            ),
        };
        tracing::error!(
            namespace,
            this_process = %self.manifest.process,
            peer = disagreement.peer(),
            "cache: FLEET DISAGREEMENT: {disagreement}; {consequence}"
        );
    }

    /// Whether an exchange has succeeded since start.
    pub fn is_checked(&self) -> bool {
        self.checked.load(Ordering::Acquire)
    }

    /// What this cache last saw.
    pub fn report(&self) -> FleetReport {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        FleetReport {
            manifest: self.manifest.clone(),
            peers: state.peers.clone(),
            disagreements: state.disagreements.clone(),
            refused: state.refused().into_iter().collect(),
            checked: self.checked.load(Ordering::Acquire),
        }
    }

    /// The counters of [`crate::CacheStats::fleet`].
    pub fn stats(&self) -> FleetStats {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        FleetStats {
            peers: state.peers.len() as u64,
            disagreements: self.disagreements.load(Ordering::Relaxed),
            refused: state.refused().into_iter().collect(),
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The disagreements of `ours` (which used the prefixes `used`) with `theirs` that break a
/// promise.
fn compare(ours: &Manifest, used: &BTreeSet<String>, theirs: &Manifest) -> Vec<Disagreement> {
    let short = theirs
        .id
        .get(theirs.id.len().saturating_sub(6)..)
        .unwrap_or(&theirs.id);
    let peer = || format!("{} (cache …{short})", theirs.process);
    let mut found = Vec::new();
    if ours.key_format != theirs.key_format {
        found.push(Disagreement::KeyFormat {
            peer: peer(),
            ours: ours.key_format.clone(),
            theirs: theirs.key_format.clone(),
        });
        // Nothing else meets across formats.
        return found;
    }
    let (here, there): (BTreeSet<&str>, BTreeSet<&str>) = (
        ours.sensitive.iter().map(String::as_str).collect(),
        theirs.sensitive.iter().map(String::as_str).collect(),
    );
    // Sensitive on one side, used plainly on the other.
    for prefix in here.symmetric_difference(&there) {
        let sensitive_here = here.contains(prefix);
        let plain_use = match sensitive_here {
            true => theirs.used.iter().any(|p| p == prefix),
            false => used.contains(*prefix),
        };
        if plain_use {
            found.push(Disagreement::Sensitivity {
                peer: peer(),
                prefix: (*prefix).to_owned(),
                sensitive_here,
            });
        }
    }
    if let (Some(mine), Some(other)) = (&ours.naming, &theirs.naming)
        && mine != other
    {
        let prefixes: Vec<String> = here.intersection(&there).map(|p| (*p).to_owned()).collect();
        if !prefixes.is_empty() {
            let side = |m: &Manifest, naming: &str| format!("{naming} (keys {:?})", m.keys);
            found.push(Disagreement::Naming {
                peer: peer(),
                ours: side(ours, mine),
                theirs: side(theirs, other),
                prefixes,
            });
        }
    }
    found
}

/// One exchange of `inner`'s manifest with its fleet, and what follows from it: the
/// prefixes whose refusal ended are invalidated whole.
pub(crate) async fn exchange(inner: &crate::inner::Inner) -> Result<(), CacheError> {
    let (Some(fleet), crate::backend::Backend::Redis(redis)) = (&inner.fleet, &inner.backend)
    else {
        return Ok(());
    };
    let peers = inner
        .guarded(
            &fleet.key,
            redis.exchange_manifest(
                &fleet.key,
                &fleet.manifest.id,
                &fleet.encoded(),
                fleet.ttl(),
            ),
        )
        .await?;
    let Released(released) = fleet.apply(&inner.namespace, &peers);
    if !released.is_empty() {
        tracing::warn!(prefixes = ?released, "cache: the fleet agrees again on these prefixes; invalidating them whole once and caching them again");
        let targets = released
            .iter()
            .map(|prefix| crate::target::Target::prefix(&inner.namespace, prefix))
            .collect();
        let _ = inner.invalidate(targets).await;
    }
    Ok(())
}

/// Starts the periodic exchange of `inner`'s manifest on the current runtime; the task
/// removes the manifest when the cache is dropped.
pub(crate) fn start(inner: &std::sync::Arc<crate::inner::Inner>) {
    let (Some(fleet), crate::backend::Backend::Redis(redis)) = (&inner.fleet, &inner.backend)
    else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let leave = Leave {
        redis: redis.clone(),
        key: fleet.key.clone(),
        id: fleet.manifest.id.clone(),
    };
    let period = fleet.period;
    let dropped = inner.dropped.subscribe();
    runtime.spawn(run(
        std::sync::Arc::downgrade(inner),
        period,
        dropped,
        leave,
    ));
}

/// What a cache that goes away takes off the namespace: its manifest.
struct Leave {
    redis: crate::backend::RedisBackend,
    key: String,
    id: String,
}

async fn run(
    cache: std::sync::Weak<crate::inner::Inner>,
    period: Duration,
    mut dropped: tokio::sync::watch::Receiver<()>,
    leave: Leave,
) {
    let period = period.max(Duration::from_millis(1));
    // The first exchange now, unless `build` made it.
    let first = match cache
        .upgrade()
        .and_then(|inner| inner.fleet.as_ref().map(Fleet::is_checked))
    {
        Some(true) => tokio::time::Instant::now() + period,
        _ => tokio::time::Instant::now(),
    };
    let mut ticks = tokio::time::interval_at(first, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = dropped.changed() => break,
            _ = ticks.tick() => {
                let Some(inner) = cache.upgrade() else { break };
                if let Err(error) = exchange(&inner).await {
                    // Redis is down or slow: the reads' own warnings say so.
                    tracing::debug!(%error, "cache: the fleet manifest was not exchanged; trying again next period");
                }
            }
        }
    }
    let _ = leave.redis.leave_fleet(&leave.key, &leave.id).await;
}

#[cfg(test)]
mod tests {
    use super::{Disagreement, Fleet, Manifest, compare};
    use std::collections::BTreeSet;
    use std::time::Duration;

    fn used() -> BTreeSet<String> {
        BTreeSet::from([String::from("session")])
    }

    fn manifest(format: &str, sensitive: &[&str], naming: Option<&str>) -> Manifest {
        Manifest {
            id: format!("{format}{sensitive:?}{naming:?}"),
            process: String::from("pid 2 on b"),
            key_format: format.to_owned(),
            sensitive: sensitive.iter().map(|p| (*p).to_owned()).collect(),
            naming: naming.map(str::to_owned),
            ..Manifest::default()
        }
    }

    #[test]
    fn only_what_splits_names_is_a_disagreement() {
        let ours = manifest("c4", &["session"], Some("aaaa"));
        let none = BTreeSet::new();
        assert!(compare(&ours, &used(), &manifest("c4", &["session"], Some("aaaa"))).is_empty());
        // No keys there: that side does not cache the prefix and invalidates it whole.
        assert!(compare(&ours, &used(), &manifest("c4", &["session"], None)).is_empty());
        assert!(matches!(
            compare(&ours, &used(), &manifest("c5", &["session"], Some("aaaa")))[..],
            [Disagreement::KeyFormat { .. }]
        ));
        // Plain there: a disagreement once that side used the prefix.
        let mut plain = manifest("c4", &[], Some("aaaa"));
        assert!(
            compare(&ours, &used(), &plain).is_empty(),
            "never used there"
        );
        plain.used = vec![String::from("session")];
        assert!(matches!(
            &compare(&ours, &used(), &plain)[..],
            [Disagreement::Sensitivity { prefix, sensitive_here: true, .. }] if prefix == "session"
        ));
        // Plain here: once this side used it.
        let theirs = manifest("c4", &["session"], Some("aaaa"));
        let plain_here = manifest("c4", &[], None);
        assert!(compare(&plain_here, &none, &theirs).is_empty());
        assert!(matches!(
            &compare(&plain_here, &used(), &theirs)[..],
            [Disagreement::Sensitivity {
                sensitive_here: false,
                ..
            }]
        ));
        assert!(matches!(
            &compare(&ours, &used(), &manifest("c4", &["session"], Some("bbbb")))[..],
            [Disagreement::Naming { prefixes, .. }] if prefixes == &["session"]
        ));
        // Other naming keys, but no prefix sensitive on both sides: only the sensitivity
        // of each, where the other side uses it.
        let mut theirs = manifest("c4", &["b"], Some("bbbb"));
        theirs.used = vec![String::from("a")];
        let found = compare(
            &manifest("c4", &["a"], Some("aaaa")),
            &BTreeSet::from([String::from("b")]),
            &theirs,
        );
        assert_eq!(found.len(), 2);
        assert!(
            found
                .iter()
                .all(|d| matches!(d, Disagreement::Sensitivity { .. }))
        );
    }

    #[test]
    fn the_joining_cache_refuses_and_a_running_one_does_not_start_to() {
        let disagreeing =
            serde_json::to_string(&manifest("c4", &["session"], Some("bbbb"))).unwrap();
        let ours = manifest("c4", &["session"], Some("aaaa"));
        let joining = Fleet::new("ns", ours.clone(), Duration::from_millis(20));
        assert!(joining.refuses("session", || true), "unchecked: refused");
        assert!(!joining.refuses("fmpa", || false));
        joining.note_use("session");
        joining.apply("ns", std::slice::from_ref(&disagreeing));
        assert!(joining.refuses("session", || true));
        assert_eq!(joining.stats().disagreements, 1);
        // The peer is not seen once (its manifest lost with a restarted Redis): still
        // refused, until it has been missing for a manifest's lifetime.
        assert!(joining.apply("ns", &[]).0.is_empty());
        assert!(joining.refuses("session", || true));
        std::thread::sleep(Duration::from_millis(70)); // a real delay: a manifest's life
        let released = joining.apply("ns", &[]);
        assert_eq!(
            released.0,
            ["session"],
            "released, to be invalidated whole once"
        );
        assert!(!joining.refuses("session", || true));

        let running = Fleet::new("ns", ours.clone(), Duration::from_secs(5));
        running.apply("ns", &[]);
        running.apply("ns", std::slice::from_ref(&disagreeing));
        assert!(!running.refuses("session", || true), "the newcomer refuses");
        assert_eq!(running.stats().disagreements, 1);
        // Told once per peer.
        running.apply("ns", std::slice::from_ref(&disagreeing));
        assert_eq!(running.stats().disagreements, 1);

        // A peer that refuses the prefix itself: nothing for a joining cache to refuse.
        let mut refusing = manifest("c4", &["session"], Some("bbbb"));
        refusing.refused = vec![String::from("session")];
        let joining = Fleet::new("ns", ours, Duration::from_secs(5));
        joining.apply("ns", &[serde_json::to_string(&refusing).unwrap()]);
        assert!(!joining.refuses("session", || true));
    }

    #[test]
    fn a_cache_refuses_what_a_peer_declares_sensitive_and_it_does_not() {
        let sensitive = serde_json::to_string(&manifest("c4", &["session"], Some("aaaa"))).unwrap();
        let plain = Fleet::new("ns", manifest("c4", &[], None), Duration::from_millis(20));
        plain.apply("ns", &[]);
        plain.apply("ns", std::slice::from_ref(&sensitive));
        assert!(plain.refuses("session", || false), "even when running");
        assert_eq!(
            plain.stats().disagreements,
            0,
            "not used here: nothing to tell"
        );
        assert!(plain.encoded().contains(r#""refused":["session"]"#));
        plain.apply("ns", &[]);
        assert!(
            plain.refuses("session", || false),
            "a peer missing once: kept"
        );
        std::thread::sleep(Duration::from_millis(70)); // a real delay: a manifest's life
        // Never used here: its refusal ends without an invalidation.
        assert!(plain.apply("ns", &[]).0.is_empty());
        assert!(!plain.refuses("session", || false));
    }
}
