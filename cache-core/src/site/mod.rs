//! Call sites: what a cached read needs to know about where it is called from. A
//! `#[cached]` function's [`Site`] is a `static` the generated code builds; `get_or_set`
//! on a user key is a [`UserSite`].

mod registry;

use crate::inner::Inner;
use crate::key::{self, CallKeys, KeyParts};
use crate::stats::{Counters, CountersRef};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What one `#[cached]` function fixes at compile time.
#[derive(Debug)]
pub struct Site {
    pub(crate) prefix: &'static str,
    pub(crate) name: &'static str,
    pub(crate) ttl: Duration,
    pub(crate) version: u32,
    /// How long a value may stay in the in-process tier (`l1`), if it may.
    pub(crate) l1: Option<Duration>,
    /// The `l1` time asked for, when it was longer than the TTL (and cut to it).
    l1_asked: Option<Duration>,
    /// `sensitive = true`: sealed, key arguments hashed, or not cached at all.
    pub(crate) sensitive: bool,
    /// `fail_safe = ...`: how long an entry is kept past its TTL, to answer a failed
    /// reload with (`None`: the cache's default).
    pub(crate) fail_safe: Option<Duration>,
    /// `jitter = ...`: the fraction of the TTL entries are spread by (`None`: the
    /// cache's default).
    pub(crate) jitter: Option<f64>,
    /// `refresh = ...`: the fraction of the TTL past which a hit reloads its entry.
    pub(crate) refresh: Option<f64>,
    /// `lease = ...`: how long the loader of a miss holds the fleet's lease (`None`: the
    /// cache's default; zero: none).
    pub(crate) lease: Option<Duration>,
    /// `timeout = ...`: how long a caller with a fail-safe value waits for the reload.
    pub(crate) timeout: Option<Duration>,
    /// The counters of this site in the first cache used here, by cache id.
    pub(crate) counters: OnceLock<(u64, Arc<Counters>)>,
    /// Whether this site's value type was checked against the sites sharing its keys.
    registered: AtomicBool,
    /// Whether a value that does not round-trip was reported (`check_round_trip`).
    round_trip_reported: AtomicBool,
}

impl Site {
    /// A call site; built in a `static` by the generated code.
    pub const fn new(
        prefix: &'static str,
        name: &'static str,
        ttl: Duration,
        version: u32,
    ) -> Self {
        Self {
            prefix,
            name,
            ttl,
            version,
            l1: None,
            l1_asked: None,
            sensitive: false,
            fail_safe: None,
            jitter: None,
            refresh: None,
            lease: None,
            timeout: None,
            counters: OnceLock::new(),
            registered: AtomicBool::new(false),
            round_trip_reported: AtomicBool::new(false),
        }
    }

    /// This site with `l1 = ...`: its values may be kept in the cache's in-process tier
    /// for `ttl`, at most the site's own TTL. A longer one (a constant: the attribute
    /// refuses a literal) is cut to the TTL, with one warning at the site's first call.
    pub const fn with_l1(mut self, ttl: Duration) -> Self {
        if ttl.as_nanos() <= self.ttl.as_nanos() {
            self.l1 = Some(ttl);
        } else {
            self.l1 = Some(self.ttl);
            self.l1_asked = Some(ttl);
        }
        self
    }

    /// This site with `sensitive = true`: its values are sealed and its key arguments
    /// hashed, which its prefix must be declared for on the cache
    /// (`CacheBuilder::sensitive_prefix`); otherwise it is not cached.
    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// This site with `fail_safe = ...`: its entries are kept `grace` past their TTL, and
    /// a failed reload is answered with the old value while its generations are current
    /// (see [`crate::CacheBuilder::fail_safe`]). Zero turns a cache's default off here.
    pub const fn with_fail_safe(mut self, grace: Duration) -> Self {
        self.fail_safe = Some(grace);
        self
    }

    /// This site with `jitter = ...`: each entry's TTL is spread by up to `fraction` of
    /// itself either way (0.1: ±10%), so that entries filled together expire apart.
    pub const fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = Some(fraction);
        self
    }

    /// This site with `lease = ...`: on a miss, one process of the fleet loads (the one
    /// whose lease lands) and the others wait for its value, `lease` at most (see
    /// [`crate::CacheBuilder::lease`]). Zero turns a cache's default off here.
    pub const fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// This site with `timeout = ...`: a caller holding a fail-safe value waits that long
    /// for its reload, then is answered with the old value while the reload finishes and
    /// stores in a task of its own.
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// This site with `refresh = ...`: a Redis hit past `fraction` of its TTL reloads its
    /// entry (one caller across the fleet, in its own call) before it expires.
    pub const fn with_refresh(mut self, fraction: f64) -> Self {
        self.refresh = Some(fraction);
        self
    }

    /// Whether to report a value that does not round-trip: the first time only.
    pub(crate) fn warn_round_trip(&self) -> bool {
        !self.round_trip_reported.swap(true, Ordering::Relaxed)
    }

    /// Warns, once per site, when another site with the same prefix, name and version
    /// stores another type: both read and fill the same entries.
    pub(crate) fn register<T>(&self) {
        if self.registered.load(Ordering::Relaxed) || self.registered.swap(true, Ordering::Relaxed)
        {
            return;
        }
        if let Some(asked) = self.l1_asked {
            tracing::warn!(
                prefix = self.prefix,
                name = self.name,
                l1 = ?asked,
                ttl = ?self.ttl,
                "cache: this site's `l1` time is longer than its `ttl`; values stay in the in-process tier no longer than their entry lives (the TTL)"
            );
        }
        let mine = std::any::type_name::<T>();
        if let Some(other) = registry::register(self.prefix, self.name, self.version, mine) {
            tracing::warn!(
                prefix = self.prefix,
                name = self.name,
                version = self.version,
                first = other,
                second = mine,
                "cache: two #[cached] functions share a prefix, a name and a version but store different types, so they read each other's entries; give one of them `name = \"...\"` or `version = ...`"
            );
        }
    }
}

/// What a cached read needs to know about its call site.
pub(crate) trait CallSite {
    fn prefix(&self) -> &str;
    /// The prefix's counters in `inner`.
    fn counters(&self, inner: &Inner) -> CountersRef<'_> {
        CountersRef::Shared(inner.stats.prefix(self.prefix()))
    }
    fn ttl(&self) -> Duration;
    fn keys(&self, namespace: &str, parts: &KeyParts) -> CallKeys;
    /// How long its values may stay in the in-process tier, if they may.
    fn l1(&self) -> Option<Duration> {
        None
    }
    /// Whether it says it is sensitive (`sensitive = true`).
    fn sensitive(&self) -> bool {
        false
    }
    /// Its name, in logs (`prefix/name`).
    fn name(&self) -> &str {
        ""
    }
    /// Its own fail-safe grace, if it sets one.
    fn fail_safe(&self) -> Option<Duration> {
        None
    }
    /// Its own TTL jitter, if it sets one.
    fn jitter(&self) -> Option<f64> {
        None
    }
    /// Its early refresh, if it has one.
    fn refresh(&self) -> Option<f64> {
        None
    }
    /// Its own stampede lease, if it sets one.
    fn lease(&self) -> Option<Duration> {
        None
    }
    /// Whether its prefix is a sensitive prefix's, which then protects it: every
    /// attribute site; not a user key (`get_or_set`), stored as plain JSON whatever its
    /// first segment.
    fn follows_its_prefix(&self) -> bool {
        true
    }
}

impl CallSite for Site {
    fn prefix(&self) -> &str {
        self.prefix
    }
    /// Remembers the counters of the first cache used at this site, which is the only
    /// one in most programs: the hit path then skips the map lookup (another cache looks
    /// its counters up).
    fn counters(&self, inner: &Inner) -> CountersRef<'_> {
        if let Some((id, counters)) = self.counters.get()
            && *id == inner.id
        {
            return CountersRef::Borrowed(counters);
        }
        // The first read of this site by this cache (or any read by another one).
        inner.note_use(self.prefix);
        let counters = inner.stats.site(self.prefix, self.name);
        let _ = self.counters.set((inner.id, counters.clone()));
        CountersRef::Shared(counters)
    }
    fn ttl(&self) -> Duration {
        self.ttl
    }
    fn keys(&self, namespace: &str, parts: &KeyParts) -> CallKeys {
        key::call_keys(namespace, self.prefix, self.name, self.version, parts)
    }
    fn l1(&self) -> Option<Duration> {
        self.l1
    }
    fn sensitive(&self) -> bool {
        self.sensitive
    }
    fn name(&self) -> &str {
        self.name
    }
    fn fail_safe(&self) -> Option<Duration> {
        self.fail_safe
    }
    fn jitter(&self) -> Option<f64> {
        self.jitter
    }
    fn refresh(&self) -> Option<f64> {
        self.refresh
    }
    fn lease(&self) -> Option<Duration> {
        self.lease
    }
}

/// `get_or_set` on a user key: no generations to honour, so both are empty and always
/// current; the stored value is plain JSON like [`Cache::set`]'s.
pub(crate) struct UserSite<'a> {
    pub key: &'a str,
    pub ttl: Duration,
}

impl CallSite for UserSite<'_> {
    fn prefix(&self) -> &str {
        self.key.split(':').next().unwrap_or(self.key)
    }
    fn counters(&self, inner: &Inner) -> CountersRef<'_> {
        CountersRef::Shared(inner.stats.user_key(self.key))
    }
    fn ttl(&self) -> Duration {
        self.ttl
    }
    fn keys(&self, namespace: &str, _: &KeyParts) -> CallKeys {
        CallKeys::plain(key::user_key(namespace, self.key))
    }
    fn follows_its_prefix(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::Site;
    use std::time::Duration;

    #[test]
    fn an_l1_time_longer_than_the_ttl_is_cut_to_it_and_remembered() {
        let minute = Duration::from_secs(60);
        let long = Site::new("p", "n", minute, 0).with_l1(Duration::from_secs(7200));
        assert_eq!(long.l1, Some(minute));
        assert_eq!(long.l1_asked, Some(Duration::from_secs(7200)));
        let short = Site::new("p", "n", minute, 0).with_l1(Duration::from_secs(30));
        assert_eq!(short.l1, Some(Duration::from_secs(30)));
        assert_eq!(short.l1_asked, None);
        let equal = Site::new("p", "n", minute, 0).with_l1(minute);
        assert_eq!((equal.l1, equal.l1_asked), (Some(minute), None));
    }
}
