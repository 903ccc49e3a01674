//! The consistency checker ([`crate::CacheBuilder::check_consistency`]), its settings here
//! and its work in `read/check.rs`: for a sample of
//! Redis hits, the function's body also runs, uncached, in the caller's future, and the
//! two values' hashes are compared. Equal: a consistent sample. Different: either a write
//! happened just before the body ran and its invalidation is on its way, or a write was
//! never followed by one. Which is told after the settling window: if the generations the
//! hit was filled under are all still current then, no invalidation came, and the cache
//! served a stale value (an inconsistency: counted, logged at `warn` with the key).
//! Otherwise the difference was an invalidation in flight: a consistent sample.
//!
//! The caller always gets the cached value: a body that fails, panics or returns what is
//! not stored gives no verdict. Values are compared as their JSON (maps in key order), so
//! a value holding a clock or a random number is reported as inconsistent: do not check
//! such sites. Hits of the in-process tier are not sampled (their staleness is bounded by
//! δ, and the tier does not keep the generations a verdict needs).

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A cache's checker: how many hits it samples, and how long it waits for a verdict.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checker {
    rate: f64,
    pub window: Duration,
}

impl Checker {
    /// Samples `rate` of the hits (0: none), and waits `window` for a verdict.
    pub fn new(rate: f64, window: Duration) -> Checker {
        let rate = if rate.is_finite() {
            rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Checker { rate, window }
    }

    /// Whether this hit is checked: one load when the checker is off.
    pub fn samples(&self) -> bool {
        if self.rate <= 0.0 {
            return false;
        }
        static DRAWS: AtomicU64 = AtomicU64::new(0);
        let draw = std::collections::hash_map::RandomState::new()
            .hash_one(DRAWS.fetch_add(1, Ordering::Relaxed));
        ((draw >> 11) as f64 / (1u64 << 53) as f64) < self.rate
    }
}
