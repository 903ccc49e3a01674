//! Statistics added up (several processes') and taken apart (what was counted between
//! two copies).

use super::{CacheStats, PrefixStats};

impl PrefixStats {
    /// Adds `other`'s counters to these.
    pub fn add(&mut self, other: &PrefixStats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.loads += other.loads;
        self.load_time += other.load_time;
        self.coalesced += other.coalesced;
        self.bypasses += other.bypasses;
        self.errors += other.errors;
        self.decode_errors += other.decode_errors;
        self.invalidations += other.invalidations;
        self.refused += other.refused;
        self.written_through += other.written_through;
        self.local_hits += other.local_hits;
        self.stale_served += other.stale_served;
        self.refreshes += other.refreshes;
        self.consistency_checks += other.consistency_checks;
        self.inconsistencies += other.inconsistencies;
    }

    /// The counters counted since `earlier` (a copy of the same counters taken before),
    /// field by field; zero where `earlier` is larger (a process that left a sum).
    pub fn since(&self, earlier: &PrefixStats) -> PrefixStats {
        PrefixStats {
            hits: self.hits.saturating_sub(earlier.hits),
            misses: self.misses.saturating_sub(earlier.misses),
            loads: self.loads.saturating_sub(earlier.loads),
            load_time: self.load_time.saturating_sub(earlier.load_time),
            coalesced: self.coalesced.saturating_sub(earlier.coalesced),
            bypasses: self.bypasses.saturating_sub(earlier.bypasses),
            errors: self.errors.saturating_sub(earlier.errors),
            decode_errors: self.decode_errors.saturating_sub(earlier.decode_errors),
            invalidations: self.invalidations.saturating_sub(earlier.invalidations),
            refused: self.refused.saturating_sub(earlier.refused),
            written_through: self.written_through.saturating_sub(earlier.written_through),
            local_hits: self.local_hits.saturating_sub(earlier.local_hits),
            stale_served: self.stale_served.saturating_sub(earlier.stale_served),
            refreshes: self.refreshes.saturating_sub(earlier.refreshes),
            consistency_checks: self
                .consistency_checks
                .saturating_sub(earlier.consistency_checks),
            inconsistencies: self.inconsistencies.saturating_sub(earlier.inconsistencies),
        }
    }
}

impl CacheStats {
    /// Adds `other`'s counters (another process's, say) to these, prefix by prefix and
    /// site by site; the fleet's figures are kept, not added (each process sees the same
    /// fleet).
    pub fn add(&mut self, other: &CacheStats) {
        self.total.add(&other.total);
        for (prefix, stats) in &other.prefixes {
            self.prefixes.entry(prefix.clone()).or_default().add(stats);
        }
        for (prefix, names) in &other.sites {
            let mine = self.sites.entry(prefix.clone()).or_default();
            for (name, stats) in names {
                mine.entry(name.clone()).or_default().add(stats);
            }
        }
    }
}
