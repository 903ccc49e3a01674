//! The builder's options for operating a cache: the statistics it publishes for its
//! fleet, and the consistency checker.

use super::CacheBuilder;
use std::time::Duration;

impl CacheBuilder {
    /// Whether a Redis cache publishes a snapshot of its statistics for its namespace
    /// every [`CacheBuilder::fleet_period`] (default: yes), so that the `cache` command
    /// line and [`crate::Cache::fleet_stats`] show the whole fleet's. The snapshot lives
    /// three periods; publishing costs one command per period. Tools that only look
    /// (the command line) turn it off, so that they do not count as a process.
    pub fn publish_stats(mut self, publish: bool) -> Self {
        self.publish_stats = publish;
        self
    }

    /// Checks, for a `rate` of the hits of every `#[cached]` site (0.0 to 1.0; default
    /// 0: off), that the value served is what the function returns: the sampled hit
    /// also runs the function's body (uncached, in the caller's future: the caller
    /// waits for it, and gets the cached value), and when the two values differ, the
    /// entry is looked at again after [`CacheBuilder::consistency_window`]: if it is
    /// still current, no invalidation came for the change and the cache served a stale
    /// value. Counted per site (`consistency_checks`, `inconsistencies`, and as nines by
    /// [`crate::PrefixStats::consistency_nines`]), logged at `warn` with the key. It never
    /// changes what callers get; a function whose runs differ by nature (a clock in its
    /// value) is reported as inconsistent.
    pub fn check_consistency(mut self, rate: f64) -> Self {
        self.consistency_rate = rate;
        self
    }

    /// How long the consistency checker waits before it calls a difference stale
    /// (default 2 s, and always more than the tier's bound δ): long enough for the
    /// invalidation of a write the function's run already saw to have landed.
    pub fn consistency_window(mut self, window: Duration) -> Self {
        self.consistency_window = window;
        self
    }
}
