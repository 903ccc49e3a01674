//! Early refresh (`#[cached(refresh = 0.8)]`): a Redis hit whose entry has less than
//! `1 - fraction` of the site's TTL left is served, and exactly one caller across the fleet
//! (the one whose claim, `SET <entry>:!refresh NX PX <left>`, lands) reloads it then, so a
//! hot key is replaced before it expires instead of missing. The reload runs in that
//! caller's own future, since the function's arguments are borrowed for the call only:
//! that caller waits for the load, every other one is served the hit. Its value is stored
//! under the generations the hit read, as a fill's is: an invalidation during the reload
//! wins. A failed reload answers its caller with the value it was to replace, and the
//! claim keeps others from retrying until that value expires.

use crate::inner::Inner;
use crate::key::{self, CallKeys};
use crate::stats::Counters;
use std::time::{Duration, Instant};

/// Whether a hit whose entry lives until `until` is due for its refresh.
pub(super) fn due(ttl: Duration, fraction: f64, until: Instant) -> bool {
    let left = until.saturating_duration_since(Instant::now());
    left < ttl.mul_f64((1.0 - fraction).clamp(0.0, 1.0))
}

/// Claims the refresh of `keys`'s entry for this caller; false if another caller (in
/// any process) holds it, or the backend could not say.
pub(super) async fn claim(
    inner: &Inner,
    keys: &CallKeys,
    until: Instant,
    counters: &Counters,
) -> bool {
    let claim = key::refresh_key(keys.entry());
    let left = until
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let taken = inner.backend.set_nx_get(&claim, "1", left);
    match inner.guarded(keys.entry(), taken).await {
        Ok(None) => true,
        Ok(Some(_)) => false,
        Err(error) => {
            inner.count_failure(counters, "refresh", &error);
            false
        }
    }
}
