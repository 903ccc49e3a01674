//! Rate limiting for warnings: a Redis outage logs one line per interval, not one per call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one event through per interval.
#[derive(Debug)]
pub struct Throttle {
    epoch: Instant,
    interval: Duration,
    /// Milliseconds since `epoch` of the last event let through, plus one (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    /// One event per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            interval,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event may be logged, `n` being how many were held back since
    /// the last one; `None` when it must be dropped.
    pub fn allow(&self) -> Option<u64> {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval.as_millis() as u64;
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_interval() {
        let throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
    }
}
