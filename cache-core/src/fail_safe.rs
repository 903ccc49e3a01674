//! Fail-safe (`#[cached(fail_safe = "1h")]`, [`crate::CacheBuilder::fail_safe`]): an
//! entry is kept that long past its TTL (its envelope says how long, [`crate::entry`]),
//! and when the reload of an expired entry fails (an `Err`, a panic), its old value is
//! returned instead, if the generations it was filled under are still current when the
//! failure is known. A value an invalidation removed is never served: only values whose
//! TTL ran out. Then the reload is not retried for the throttle
//! ([`crate::CacheBuilder::fail_safe_throttle`]): calls in the meantime get the old value
//! (each after its own read of the generations), so a dead database is not hammered.
//!
//! Only for `Result` outputs: an `Option`'s `None` or a plain value cannot say that the
//! load failed (`#[cached]` refuses `fail_safe` on an `Option`; a builder default applies
//! to `Result` sites only).
//!
//! Also here: TTL jitter ([`jittered`]), which spreads the expiry of entries filled
//! together.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The default throttle of a failed reload: FusionCache's, 30 s.
pub(crate) const DEFAULT_THROTTLE: Duration = Duration::from_secs(30);

/// A cache's fail-safe and jitter settings, and the reloads it is holding back.
pub(crate) struct FailSafe {
    /// The grace of `Result` sites that do not set their own (zero: off).
    pub default: Duration,
    /// How long a failed reload of a key is not retried.
    pub throttle: Duration,
    /// The jitter of sites that do not set their own (a fraction of the TTL).
    pub jitter: f64,
    /// Entry key → until when its reload is held back.
    throttled: Mutex<HashMap<String, Instant>>,
    /// Sites (`prefix/name`) serving old values now: logged once per episode.
    episodes: Mutex<HashSet<String>>,
}

impl FailSafe {
    pub fn new(default: Duration, throttle: Duration, jitter: f64) -> FailSafe {
        FailSafe {
            default,
            throttle,
            jitter: jitter.clamp(0.0, 1.0),
            throttled: Mutex::default(),
            episodes: Mutex::default(),
        }
    }

    /// The grace of a read: the site's own, else the default; zero unless its output
    /// shows failures.
    pub fn grace(&self, fails_visibly: bool, site: Option<Duration>) -> Duration {
        match fails_visibly {
            true => site.unwrap_or(self.default),
            false => Duration::ZERO,
        }
    }

    /// Whether the reload of `entry` is held back after a failure.
    pub fn is_throttled(&self, entry: &str) -> bool {
        let throttled = self.throttled.lock().unwrap_or_else(|e| e.into_inner());
        throttled
            .get(entry)
            .is_some_and(|until| *until > Instant::now())
    }

    /// Holds back the reload of `entry` for the throttle.
    pub fn hold_back(&self, entry: &str) {
        let now = Instant::now();
        let mut throttled = self.throttled.lock().unwrap_or_else(|e| e.into_inner());
        if throttled.len() >= 10_000 {
            throttled.retain(|_, until| *until > now);
        }
        throttled.insert(entry.to_owned(), now + self.throttle);
    }

    /// An old value of `site` was served after its reload failed: logged when its
    /// episode begins.
    pub fn served_old(&self, prefix: &str, name: &str, why: &str) {
        let site = format!("{prefix}/{name}");
        let mut episodes = self.episodes.lock().unwrap_or_else(|e| e.into_inner());
        if episodes.insert(site) {
            tracing::warn!(
                prefix,
                name,
                why,
                throttle = ?self.throttle,
                "cache: a reload failed; serving values past their TTL (fail-safe) whose generations are current, and retrying each key after the throttle"
            );
        }
    }

    /// A load of `site` succeeded: its episode, if any, is over.
    pub fn recovered(&self, prefix: &str, name: &str, entry: &str) {
        {
            let mut throttled = self.throttled.lock().unwrap_or_else(|e| e.into_inner());
            if throttled.is_empty() {
                return;
            }
            throttled.remove(entry);
        }
        let site = format!("{prefix}/{name}");
        let mut episodes = self.episodes.lock().unwrap_or_else(|e| e.into_inner());
        if episodes.remove(&site) {
            tracing::info!(
                prefix,
                name,
                "cache: reloads succeed again; fail-safe episode over"
            );
        }
    }
}

/// `ttl` spread by up to `fraction` of itself either way, so that entries filled
/// together do not expire together.
pub(crate) fn jittered(ttl: Duration, fraction: f64) -> Duration {
    if fraction <= 0.0 || ttl.is_zero() {
        return ttl;
    }
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let draw = RandomState::new().hash_one(DRAWS.fetch_add(1, Ordering::Relaxed));
    // A uniform number in [-1, 1).
    let unit = (draw >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
    let factor = 1.0 + unit * fraction.min(1.0);
    ttl.mul_f64(factor.max(0.0)).max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_fraction_and_spreads() {
        let ttl = Duration::from_secs(100);
        let draws: Vec<Duration> = (0..1000).map(|_| jittered(ttl, 0.1)).collect();
        assert!(
            draws
                .iter()
                .all(|d| *d >= Duration::from_secs(90) && *d <= Duration::from_secs(110))
        );
        let low = draws
            .iter()
            .filter(|d| **d < Duration::from_secs(97))
            .count();
        let high = draws
            .iter()
            .filter(|d| **d > Duration::from_secs(103))
            .count();
        assert!(
            low > 100 && high > 100,
            "spread both ways: {low} low, {high} high"
        );
        assert_eq!(jittered(ttl, 0.0), ttl);
    }

    #[test]
    fn a_throttle_holds_back_its_key_only_and_ends() {
        let fail_safe = FailSafe::new(Duration::ZERO, Duration::from_millis(30), 0.0);
        fail_safe.hold_back("a");
        assert!(fail_safe.is_throttled("a"));
        assert!(!fail_safe.is_throttled("b"));
        fail_safe.recovered("p", "n", "a");
        assert!(!fail_safe.is_throttled("a"), "a success ends it");
        fail_safe.hold_back("a");
        std::thread::sleep(Duration::from_millis(40)); // the throttle's own time
        assert!(!fail_safe.is_throttled("a"));
        assert_eq!(
            fail_safe.grace(false, Some(Duration::from_secs(1))),
            Duration::ZERO
        );
        assert_eq!(fail_safe.grace(true, None), Duration::ZERO);
        assert_eq!(
            fail_safe.grace(true, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
    }
}
