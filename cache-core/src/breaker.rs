//! The circuit breaker: after repeated Redis failures, skip Redis for a while, then let
//! one call probe it.
//!
//! The hot path (`permit` while closed) is one relaxed atomic load.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Skips Redis after `threshold` consecutive failures, for `open_for`.
#[derive(Debug)]
pub struct Breaker {
    epoch: Instant,
    threshold: u32,
    open_for: Duration,
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which calls skip Redis; 0 = closed.
    open_until: AtomicU64,
}

/// What the breaker says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Closed: go ahead.
    Pass,
    /// The open period is over and this call is the one probe.
    Probe,
    /// Open: skip Redis.
    Skip,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            threshold: threshold.max(1),
            open_for,
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        // +1 so that 0 always means "closed".
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Whether a call may use Redis now.
    pub fn permit(&self) -> Permit {
        let until = self.open_until.load(Ordering::Relaxed);
        if until == 0 {
            return Permit::Pass;
        }
        let now = self.now_ms();
        if now < until {
            return Permit::Skip;
        }
        // The open period is over: one caller wins the probe, the others keep skipping
        // until it reports (or until its own deadline has surely passed).
        let probe_window = now + self.open_for.as_millis() as u64;
        match self.open_until.compare_exchange(
            until,
            probe_window,
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => Permit::Probe,
            Err(_) => Permit::Skip,
        }
    }

    /// Whether the breaker is open now (for stats and tests).
    pub fn is_open(&self) -> bool {
        let until = self.open_until.load(Ordering::Relaxed);
        until != 0 && self.now_ms() < until
    }

    /// Reports a successful Redis call: closes the breaker.
    pub fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.open_until.load(Ordering::Relaxed) != 0 {
            self.open_until.store(0, Ordering::Release);
        }
    }

    /// Reports a failed Redis call; returns true when this failure opened the breaker.
    pub fn failure(&self) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= self.threshold {
            let until = self.now_ms() + self.open_for.as_millis() as u64;
            let previous = self.open_until.swap(until, Ordering::AcqRel);
            return previous == 0;
        }
        false
    }
}

/// How many groups of slots have a breaker of their own on a cluster.
pub const SLOT_GROUPS: usize = 64;

/// The breakers of one cache: one for a single server; on a cluster, one per group of
/// consecutive slots (a master serves ranges of slots), so that a master that is down
/// only makes the calls whose keys it serves skip Redis, and the others keep caching.
#[derive(Debug)]
pub struct Breakers {
    all: Vec<Breaker>,
}

impl Breakers {
    /// One breaker, or [`SLOT_GROUPS`] for a cluster.
    pub fn new(cluster: bool, threshold: u32, open_for: Duration) -> Self {
        let count = if cluster { SLOT_GROUPS } else { 1 };
        Self {
            all: (0..count)
                .map(|_| Breaker::new(threshold, open_for))
                .collect(),
        }
    }

    /// The breaker guarding `key`.
    pub fn for_key(&self, key: &str) -> &Breaker {
        match self.all.as_slice() {
            [only] => only,
            all => {
                let group =
                    usize::from(crate::slot::of(key)) * all.len() / usize::from(crate::slot::SLOTS);
                &all[group]
            }
        }
    }

    /// The breaker that guards every key, when there is only one.
    pub fn single(&self) -> Option<&Breaker> {
        match self.all.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// Whether any breaker is open.
    pub fn any_open(&self) -> bool {
        self.all.iter().any(Breaker::is_open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_once() {
        let breaker = Breaker::new(3, Duration::from_millis(0));
        assert_eq!(breaker.permit(), Permit::Pass);
        assert!(!breaker.failure());
        assert!(!breaker.failure());
        assert_eq!(breaker.permit(), Permit::Pass);
        assert!(breaker.failure());
        // open_for is zero: the period is over at once, one probe goes through.
        assert_eq!(breaker.permit(), Permit::Probe);
        breaker.success();
        assert_eq!(breaker.permit(), Permit::Pass);
    }

    #[test]
    fn skips_while_open() {
        let breaker = Breaker::new(1, Duration::from_secs(60));
        breaker.failure();
        assert!(breaker.is_open());
        assert_eq!(breaker.permit(), Permit::Skip);
        breaker.success();
        assert!(!breaker.is_open());
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;

    #[test]
    fn a_cluster_breaker_opens_for_its_slots_only() {
        let breakers = Breakers::new(true, 1, Duration::from_secs(60));
        let (a, b) = ("{a}", "{b}");
        assert_ne!(
            crate::slot::of(a) as usize * SLOT_GROUPS / 16384,
            crate::slot::of(b) as usize * SLOT_GROUPS / 16384
        );
        breakers.for_key(a).failure();
        assert!(breakers.for_key(a).is_open());
        assert!(!breakers.for_key(b).is_open());
        assert!(breakers.any_open());
        assert!(breakers.single().is_none());
        let one = Breakers::new(false, 1, Duration::from_secs(60));
        assert!(std::ptr::eq(one.for_key(a), one.for_key(b)));
    }
}
