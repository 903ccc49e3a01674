//! How [`PrefixStats`] reads and writes as JSON: `load_time` in seconds and the
//! `hit_rate` beside the counters (ignored when read back), every field optional when
//! read (a process of an older version publishes fewer).

use super::PrefixStats;
use std::time::Duration;

impl serde::Serialize for PrefixStats {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("PrefixStats", 18)?;
        out.serialize_field("hits", &self.hits)?;
        out.serialize_field("misses", &self.misses)?;
        out.serialize_field("hit_rate", &self.hit_rate())?;
        out.serialize_field("loads", &self.loads)?;
        out.serialize_field("load_time", &self.load_time.as_secs_f64())?;
        out.serialize_field("coalesced", &self.coalesced)?;
        out.serialize_field("bypasses", &self.bypasses)?;
        out.serialize_field("errors", &self.errors)?;
        out.serialize_field("decode_errors", &self.decode_errors)?;
        out.serialize_field("invalidations", &self.invalidations)?;
        out.serialize_field("refused", &self.refused)?;
        out.serialize_field("written_through", &self.written_through)?;
        out.serialize_field("local_hits", &self.local_hits)?;
        out.serialize_field("stale_served", &self.stale_served)?;
        out.serialize_field("refreshes", &self.refreshes)?;
        out.serialize_field("consistency_checks", &self.consistency_checks)?;
        out.serialize_field("inconsistencies", &self.inconsistencies)?;
        out.end()
    }
}

/// The JSON form, read back.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Wire {
    hits: u64,
    misses: u64,
    loads: u64,
    load_time: f64,
    coalesced: u64,
    bypasses: u64,
    errors: u64,
    decode_errors: u64,
    invalidations: u64,
    refused: u64,
    written_through: u64,
    local_hits: u64,
    stale_served: u64,
    refreshes: u64,
    consistency_checks: u64,
    inconsistencies: u64,
}

impl<'de> serde::Deserialize<'de> for PrefixStats {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        Ok(PrefixStats {
            hits: wire.hits,
            misses: wire.misses,
            loads: wire.loads,
            load_time: Duration::try_from_secs_f64(wire.load_time).unwrap_or_default(),
            coalesced: wire.coalesced,
            bypasses: wire.bypasses,
            errors: wire.errors,
            decode_errors: wire.decode_errors,
            invalidations: wire.invalidations,
            refused: wire.refused,
            written_through: wire.written_through,
            local_hits: wire.local_hits,
            stale_served: wire.stale_served,
            refreshes: wire.refreshes,
            consistency_checks: wire.consistency_checks,
            inconsistencies: wire.inconsistencies,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::stats::Stats;
    use crate::{CacheStats, PrefixStats};

    #[test]
    fn stats_read_back_what_they_write_and_add_up() {
        let stats = Stats::default();
        stats.site("fmpa", "list").hit();
        stats.site("fmpa", "list").miss();
        stats
            .site("fmpa", "list")
            .load(std::time::Duration::from_millis(1500));
        stats.prefix("fmpa").invalidation();
        let snapshot = stats.snapshot();
        let text = serde_json::to_string(&snapshot).unwrap();
        let back: CacheStats = serde_json::from_str(&text).unwrap();
        assert_eq!(back.total, snapshot.total);
        assert_eq!(back.site("fmpa", "list"), snapshot.site("fmpa", "list"));
        let mut sum = back.clone();
        sum.add(&snapshot);
        assert_eq!(sum.site("fmpa", "list").hits, 2);
        assert_eq!(sum.prefix("fmpa").invalidations, 2);
        assert_eq!(sum.total.loads, 2);
        // fewer fields (an older process): the rest are zero
        let old: PrefixStats = serde_json::from_str(r#"{"hits": 3, "hit_rate": 1.0}"#).unwrap();
        assert_eq!((old.hits, old.misses), (3, 0));
    }

    #[test]
    fn consistency_reads_as_nines() {
        let mut stats = PrefixStats::default();
        assert_eq!(stats.consistency_nines(), None);
        stats.consistency_checks = 1000;
        assert_eq!(stats.consistency_nines(), Some(3.0));
        stats.inconsistencies = 10;
        assert_eq!(stats.consistency_nines(), Some(2.0));
    }
}
