//! The builder's defaults for the resilience options of `#[cached]` sites: fail-safe, its
//! throttle, the stampede lease, TTL jitter (the guide's resilience page).

use super::CacheBuilder;
use std::time::Duration;

impl CacheBuilder {
    /// The fail-safe of every `#[cached]` site returning a `Result` that does not set its
    /// own (`fail_safe = "1h"`; default: none): entries are kept `grace` past their TTL,
    /// and when the reload of an expired entry fails (an `Err`, a panic), the old value
    /// is returned instead, provided the generations it was filled under are still
    /// current: a value an invalidation removed is never served, only one whose TTL ran
    /// out. Counted as `stale_served`, logged once per episode. Sites returning an
    /// `Option` or a plain value are not affected (they cannot show a failure).
    pub fn fail_safe(mut self, grace: Duration) -> Self {
        self.fail_safe = grace;
        self
    }

    /// How long a failed reload of a key is not retried (default 30 s): calls in the
    /// meantime get the fail-safe value, each after its own check of the generations.
    pub fn fail_safe_throttle(mut self, throttle: Duration) -> Self {
        self.fail_safe_throttle = throttle;
        self
    }

    /// The stampede lease of every `#[cached]` site that does not set its own
    /// (`lease = "5s"`; default none), on Redis: on a miss, the process whose lease lands
    /// loads, and the other processes of the fleet wait for its value (woken when it is
    /// stored, `lease` at most), then look again; a holder that dies costs them the lease
    /// time. One more script per miss, and one subscription per cache from its first
    /// lease on. See the guide's resilience page.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The TTL jitter of every `#[cached]` site that does not set its own
    /// (`jitter = 0.1`; default none): each entry's TTL is spread by up to `fraction` of
    /// itself either way, so that entries filled together do not expire together.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }
}
