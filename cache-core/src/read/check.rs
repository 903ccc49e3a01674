//! The consistency checker's work on a sampled hit ([`crate::consistency`]): run the
//! body, compare, and after the settling window give the verdict.

use crate::entry::Generations;
use crate::inner::Inner;
use crate::key::CallKeys;
use crate::outcome::Mode;
use crate::site::CallSite;
use futures_util::FutureExt;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;

/// The hash of `value` as JSON, maps in key order; `None` if it does not serialize.
fn digest<T: serde::Serialize + ?Sized>(value: &T) -> Option<u64> {
    let canonical = serde_json::to_value(value).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&canonical).ok()?.hash(&mut hasher);
    Some(hasher.finish())
}

/// A sampled hit of `value`, filled under `generations`: runs the body `fut`, compares,
/// and returns the cached value whatever the body did.
pub(crate) async fn check<M: Mode>(
    inner: &Inner,
    site: &impl CallSite,
    keys: &CallKeys,
    generations: Generations,
    value: M::Stored,
    fut: impl Future<Output = M::Output>,
) -> M::Output {
    let served = digest(&value);
    // Boxed: the body's future lives on the heap on this path only.
    let fresh = match AssertUnwindSafe(Box::pin(fut)).catch_unwind().await {
        Ok(out) => M::stored(&out).and_then(digest),
        Err(_) => {
            tracing::debug!(
                key = keys.entry(),
                "cache: the consistency check's run of the function panicked; no verdict"
            );
            None
        }
    };
    match (served, fresh) {
        (Some(served), Some(fresh)) if served == fresh => {
            site.counters(inner).consistency_checked();
        }
        (Some(_), Some(_)) => settle(inner, site, keys, generations),
        _ => {}
    }
    M::restore(value)
}

/// After the window, the verdict on a difference: stale if no invalidation came.
fn settle(inner: &Inner, site: &impl CallSite, keys: &CallKeys, generations: Generations) {
    let (Some(cache), Ok(runtime)) = (inner.this.upgrade(), tokio::runtime::Handle::try_current())
    else {
        return;
    };
    let window = inner.consistency.window;
    let counters = inner.stats.site(site.prefix(), site.name());
    let (prefix, name) = (site.prefix().to_owned(), site.name().to_owned());
    let keys = keys.clone();
    let cache = std::sync::Arc::downgrade(&cache);
    runtime.spawn(async move {
        // The settling window itself: what the checker waits out, not a synchronisation.
        tokio::time::sleep(window).await;
        let Some(inner) = cache.upgrade() else { return };
        let mut all = vec![keys.prefix_generation(), keys.scope_generation()];
        all.extend(keys.tag_generations().iter().map(String::as_str));
        let Ok(now) = inner.guarded(keys.entry(), inner.backend.mget(&all)).await else {
            return; // Redis unreachable: no verdict
        };
        let held = [&generations.prefix, &generations.scope]
            .into_iter()
            .chain(&generations.tags);
        let current = now.len() == all.len()
            && now
                .iter()
                .zip(held)
                .all(|(now, held)| now.as_ref() == Some(held));
        counters.consistency_checked();
        if current {
            counters.inconsistent();
            tracing::warn!(
                key = keys.entry(),
                prefix,
                name,
                window_ms = window.as_millis() as u64,
                "cache: INCONSISTENT: a hit served a value the function no longer returns, and no invalidation came within the window (a write that does not invalidate this read?)"
            );
        }
    });
}
