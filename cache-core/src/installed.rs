//! The process default: the cache the attributes use when a function names none.

use crate::Cache;
use arc_swap::ArcSwapOption;

static INSTALLED: ArcSwapOption<crate::inner::Inner> = ArcSwapOption::const_empty();

/// Makes `cache` the process default that the attributes use; returns the one it
/// replaces.
pub fn install(cache: Cache) -> Option<Cache> {
    INSTALLED
        .swap(Some(cache.inner))
        .map(|inner| Cache { inner })
}

/// The installed cache, if any.
pub fn installed() -> Option<Cache> {
    INSTALLED.load_full().map(|inner| Cache { inner })
}

/// Removes the installed cache; the attributes then run functions uncached.
pub fn uninstall() -> Option<Cache> {
    INSTALLED.swap(None).map(|inner| Cache { inner })
}
