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

mod compare;
pub(crate) mod exchange;
mod manifest;
pub(crate) mod published;

pub use self::manifest::{Disagreement, FleetReport, FleetStats, Manifest};
pub use self::published::ProcessStats;

use self::compare::compare;
use self::manifest::this_process;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
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
    /// Whether it publishes its statistics ([`published`]).
    pub publish: bool,
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
            publish: true,
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

    /// This fleet part, publishing its statistics or not ([`published`]).
    pub fn publishing(mut self, publish: bool) -> Fleet {
        self.publish = publish;
        self
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
