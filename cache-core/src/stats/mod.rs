//! Counters per call site (a `#[cached]` function's prefix and name) and per prefix:
//! hits, misses, loads, load time, errors, invalidations. A site's reads count in its
//! own counters only; a prefix's figures are its own counters (invalidations, the plain
//! operations' keys) plus the sum of its sites', added up when read.

#[cfg(feature = "metrics")]
mod exported;
mod sum;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The live counters of one prefix.
#[derive(Debug, Default)]
pub struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    loads: AtomicU64,
    load_nanos: AtomicU64,
    coalesced: AtomicU64,
    bypasses: AtomicU64,
    errors: AtomicU64,
    decode_errors: AtomicU64,
    invalidations: AtomicU64,
    refused: AtomicU64,
    written_through: AtomicU64,
    local_hits: AtomicU64,
    stale_served: AtomicU64,
    refreshes: AtomicU64,
    consistency_checks: AtomicU64,
    inconsistencies: AtomicU64,
    #[cfg(feature = "metrics")]
    exported: Option<exported::Handles>,
}

/// Counters borrowed from where they are remembered (a call site's, on the hit path: no
/// reference count to touch), or shared from the map.
pub(crate) enum CountersRef<'a> {
    Borrowed(&'a Counters),
    Shared(Arc<Counters>),
}

impl std::ops::Deref for CountersRef<'_> {
    type Target = Counters;
    fn deref(&self) -> &Counters {
        match self {
            CountersRef::Borrowed(counters) => counters,
            CountersRef::Shared(counters) => counters,
        }
    }
}

/// A copy of the counters of one prefix, of one call site, or of all, taken by
/// [`crate::Cache::stats`]. Serializes with `load_time` in seconds and the `hit_rate`
/// beside the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrefixStats {
    /// Calls answered from the cache.
    pub hits: u64,
    /// Calls that read the cache and found nothing usable.
    pub misses: u64,
    /// Times the underlying function (or loader) ran.
    pub loads: u64,
    /// Total time spent in loads.
    pub load_time: Duration,
    /// Misses answered by another caller's load (single-flight).
    pub coalesced: u64,
    /// Calls that skipped the cache (breaker open, not connected, invalidation pending).
    pub bypasses: u64,
    /// Failed cache operations (Redis errors, timeouts, values that would not serialize).
    pub errors: u64,
    /// Entries found but not decodable (corrupt, other format, other type).
    pub decode_errors: u64,
    /// Invalidations requested.
    pub invalidations: u64,
    /// Commands Redis answered with a refusal (`OOM` when full under `noeviction`, a
    /// read-only replica...): Redis is up, but did not store what was asked.
    pub refused: u64,
    /// Values a write stored under a cached read's key (`write_through`).
    pub written_through: u64,
    /// Hits answered by the in-process tier (`l1`), without Redis; counted in `hits` too.
    pub local_hits: u64,
    /// Calls answered with a value past its TTL because its reload failed (fail-safe),
    /// its generations current.
    pub stale_served: u64,
    /// Hits that reloaded their entry before it expired (early refresh).
    pub refreshes: u64,
    /// Hits the consistency checker compared with a run of the function
    /// ([`crate::CacheBuilder::check_consistency`]) and gave a verdict on.
    pub consistency_checks: u64,
    /// Of those, hits whose value the function's run contradicted while the entry was
    /// still current past the settling window: stale values served.
    pub inconsistencies: u64,
}

impl PrefixStats {
    /// Hits over hits plus misses, 0.0 when nothing was read.
    pub fn hit_rate(&self) -> f64 {
        let reads = self.hits + self.misses;
        if reads == 0 {
            0.0
        } else {
            self.hits as f64 / reads as f64
        }
    }

    /// The consistency the checker measured, as nines: `-log10` of the share of checks
    /// that found an inconsistency (`3.0`: one in a thousand). `None` before the first
    /// check; with checks and no inconsistency, the nines the checks can vouch for
    /// (`log10` of their number: 1,000 clean checks are 3 nines).
    pub fn consistency_nines(&self) -> Option<f64> {
        if self.consistency_checks == 0 {
            return None;
        }
        let checks = self.consistency_checks as f64;
        Some(match self.inconsistencies {
            0 => checks.log10(),
            bad => -(bad as f64 / checks).log10(),
        })
    }
}

/// The statistics of a cache: in total, per prefix, and per call site. Serializes as
/// `{"total": {...}, "prefixes": {"fmpa": {...}}, "sites": {"fmpa": {"list": {...}}}}`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CacheStats {
    /// The sum over all prefixes.
    pub total: PrefixStats,
    /// Per prefix, sorted by name: its sites' reads and its invalidations. The keys of
    /// the plain operations count under what comes before their first `:`; past 64 such
    /// prefixes, under `"(other)"`, so that keys like `session-<id>` cannot grow this (or
    /// the exported metrics) without bound.
    pub prefixes: BTreeMap<String, PrefixStats>,
    /// Per `#[cached]` call site: prefix, then the site's name (the function's name or its
    /// `name = "..."`). As many as the program has sites: bounded by its code.
    pub sites: BTreeMap<String, BTreeMap<String, PrefixStats>>,
    /// The fleet of the namespace: live peers, disagreements found, prefixes refused
    /// ([`crate::Cache::fleet`]); zero for the memory store.
    pub fleet: crate::FleetStats,
}

impl CacheStats {
    /// The counters of one prefix (all zero if it was never used).
    pub fn prefix(&self, prefix: &str) -> PrefixStats {
        self.prefixes.get(prefix).copied().unwrap_or_default()
    }

    /// The counters of one call site (all zero if it was never used).
    pub fn site(&self, prefix: &str, name: &str) -> PrefixStats {
        self.sites
            .get(prefix)
            .and_then(|names| names.get(name))
            .copied()
            .unwrap_or_default()
    }
}

macro_rules! bump {
    ($($(#[$doc:meta])* $name:ident => $field:ident),* $(,)?) => {
        impl Counters {
            $($(#[$doc])* pub fn $name(&self) {
                self.$field.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "metrics")]
                if let Some(handles) = &self.exported {
                    handles.$field.increment(1);
                }
            })*
        }
    };
}

bump! {
    /// Counts a hit.
    hit => hits,
    /// Counts a miss.
    miss => misses,
    /// Counts a miss answered by another caller's load.
    coalesced => coalesced,
    /// Counts a call that skipped the cache.
    bypass => bypasses,
    /// Counts a failed cache operation.
    error => errors,
    /// Counts an undecodable entry.
    decode_error => decode_errors,
    /// Counts an invalidation.
    invalidation => invalidations,
    /// Counts a command Redis refused.
    refused => refused,
    /// Counts a value stored by a write-through.
    written_through => written_through,
    /// Counts a call answered with a fail-safe value.
    stale_served => stale_served,
    /// Counts an early refresh.
    refreshed => refreshes,
    /// Counts a check of the consistency checker that came to a verdict.
    consistency_checked => consistency_checks,
    /// Counts a stale value the consistency checker found.
    inconsistent => inconsistencies,
}

impl Counters {
    /// Counts a hit of the in-process tier (a hit: [`PrefixStats::hits`] adds them).
    pub fn local_hit(&self) {
        self.local_hits.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(handles) = &self.exported {
            handles.hits.increment(1);
            handles.local_hits.increment(1);
        }
    }

    /// Counts one run of the function and its duration.
    pub fn load(&self, took: Duration) {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.load_nanos.fetch_add(nanos, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(handles) = &self.exported {
            handles.loads.increment(1);
            handles.load_seconds.record(took.as_secs_f64());
        }
    }

    fn snapshot(&self) -> PrefixStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PrefixStats {
            hits: get(&self.hits) + get(&self.local_hits),
            misses: get(&self.misses),
            loads: get(&self.loads),
            load_time: Duration::from_nanos(get(&self.load_nanos)),
            coalesced: get(&self.coalesced),
            bypasses: get(&self.bypasses),
            errors: get(&self.errors),
            decode_errors: get(&self.decode_errors),
            invalidations: get(&self.invalidations),
            refused: get(&self.refused),
            written_through: get(&self.written_through),
            local_hits: get(&self.local_hits),
            stale_served: get(&self.stale_served),
            refreshes: get(&self.refreshes),
            consistency_checks: get(&self.consistency_checks),
            inconsistencies: get(&self.inconsistencies),
        }
    }
}

/// How many prefixes the keys of the plain operations (`get`, `set`, `get_or_set`...)
/// may create; the keys of further ones are counted under [`OTHER_USER_KEYS`].
pub const USER_PREFIX_LIMIT: usize = 64;

/// The counters of user keys past [`USER_PREFIX_LIMIT`] prefixes.
pub const OTHER_USER_KEYS: &str = "(other)";

/// The counters of every prefix of one cache.
#[derive(Debug, Default)]
pub struct Stats {
    prefixes: RwLock<HashMap<String, Arc<Counters>>>,
    /// Per (prefix, site name).
    sites: RwLock<HashMap<(String, String), Arc<Counters>>>,
    /// How many prefixes user keys created.
    user_prefixes: std::sync::atomic::AtomicUsize,
}

impl Stats {
    /// The counters of a user key: those of what comes before its first `:`
    /// (`fmpa:list:...` → `fmpa`). User keys are data (`session-<id>`), so the prefixes
    /// they create are bounded: past [`USER_PREFIX_LIMIT`], they share [`OTHER_USER_KEYS`].
    pub fn user_key(&self, key: &str) -> Arc<Counters> {
        let prefix = key.split(':').next().unwrap_or(key);
        if let Some(counters) = self.existing(prefix) {
            return counters;
        }
        let taken = self.user_prefixes.fetch_add(1, Ordering::Relaxed);
        if taken >= USER_PREFIX_LIMIT {
            self.user_prefixes.fetch_sub(1, Ordering::Relaxed);
            return self.prefix(OTHER_USER_KEYS);
        }
        self.prefix(prefix)
    }

    fn existing(&self, prefix: &str) -> Option<Arc<Counters>> {
        self.prefixes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(prefix)
            .cloned()
    }

    /// The counters of `prefix`, created on first use.
    pub fn prefix(&self, prefix: &str) -> Arc<Counters> {
        if let Some(counters) = self.existing(prefix) {
            return counters;
        }
        let mut prefixes = self.prefixes.write().unwrap_or_else(|e| e.into_inner());
        prefixes
            .entry(prefix.to_owned())
            .or_insert_with(|| Arc::new(Counters::for_prefix(prefix)))
            .clone()
    }

    /// The counters of the call site `name` of `prefix`, created on first use.
    pub fn site(&self, prefix: &str, name: &str) -> Arc<Counters> {
        let key = (prefix.to_owned(), name.to_owned());
        if let Some(counters) = self
            .sites
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return counters.clone();
        }
        let mut sites = self.sites.write().unwrap_or_else(|e| e.into_inner());
        sites
            .entry(key)
            .or_insert_with(|| Arc::new(Counters::for_site(prefix, Some(name))))
            .clone()
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> CacheStats {
        let mut stats = CacheStats::default();
        for (prefix, counters) in self
            .prefixes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            stats.prefixes.insert(prefix.clone(), counters.snapshot());
        }
        for ((prefix, name), counters) in
            self.sites.read().unwrap_or_else(|e| e.into_inner()).iter()
        {
            let snapshot = counters.snapshot();
            stats
                .prefixes
                .entry(prefix.clone())
                .or_default()
                .add(&snapshot);
            stats
                .sites
                .entry(prefix.clone())
                .or_default()
                .insert(name.clone(), snapshot);
        }
        for snapshot in stats.prefixes.values() {
            stats.total.add(snapshot);
        }
        stats
    }
}

impl Counters {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn for_prefix(prefix: &str) -> Self {
        Self::for_site(prefix, None)
    }

    /// Counters exported with the labels `prefix` and, for a call site, `name`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn for_site(prefix: &str, name: Option<&str>) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            exported: Some(exported::Handles::new(prefix, name)),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{OTHER_USER_KEYS, Stats, USER_PREFIX_LIMIT};

    #[test]
    fn stats_serialize_with_their_hit_rate() {
        let stats = Stats::default();
        stats.site("fmpa", "list").hit();
        stats.site("fmpa", "list").miss();
        let json = serde_json::to_value(stats.snapshot()).unwrap();
        assert_eq!(json["total"]["hits"], 1);
        assert_eq!(json["prefixes"]["fmpa"]["hit_rate"], 0.5);
        assert_eq!(json["sites"]["fmpa"]["list"]["misses"], 1);
        assert_eq!(json["sites"]["fmpa"]["list"]["load_time"], 0.0);
    }

    #[test]
    fn sites_count_apart_and_add_up_in_their_prefix() {
        let stats = Stats::default();
        stats.site("fmpa", "list").hit();
        stats.site("fmpa", "list").miss();
        stats.site("fmpa", "item").hit();
        stats.prefix("fmpa").invalidation();
        stats.site("stats", "dashboard").miss();
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.site("fmpa", "list").hits, 1);
        assert_eq!(snapshot.site("fmpa", "list").misses, 1);
        assert_eq!(snapshot.site("fmpa", "item").hits, 1);
        assert_eq!(snapshot.site("fmpa", "nope").hits, 0);
        let fmpa = snapshot.prefix("fmpa");
        assert_eq!((fmpa.hits, fmpa.misses, fmpa.invalidations), (2, 1, 1));
        assert_eq!((snapshot.total.hits, snapshot.total.misses), (2, 2));
    }

    #[test]
    fn user_keys_create_a_bounded_number_of_prefixes() {
        let stats = Stats::default();
        stats.prefix("fmpa").hit();
        for id in 0..10 * USER_PREFIX_LIMIT {
            stats.user_key(&format!("session-{id}")).miss();
        }
        stats.user_key("session-0").miss();
        let snapshot = stats.snapshot();
        // the attribute's prefix, the first user prefixes, and the shared rest
        assert_eq!(snapshot.prefixes.len(), 1 + USER_PREFIX_LIMIT + 1);
        assert_eq!(snapshot.prefix("session-0").misses, 2);
        assert_eq!(
            snapshot.prefix(OTHER_USER_KEYS).misses,
            (9 * USER_PREFIX_LIMIT) as u64
        );
        assert_eq!(snapshot.total.misses, (10 * USER_PREFIX_LIMIT + 1) as u64);
        // attribute prefixes are never folded
        stats.prefix("late").hit();
        assert_eq!(stats.snapshot().prefix("late").hits, 1);
    }
}
