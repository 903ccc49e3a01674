//! The read path behind `#[cached]` and `get_or_set`, as stages:
//!
//! 1. **guard**: a key that did not encode, or a breaker that is open, skips the cache;
//! 2. **lookup** ([`lookup`]): one read of the backend (an `MGET` of both generations and
//!    the entry; a `GET` for a user key), checked client-side: a hit, or the generations
//!    a fill must record;
//! 3. **payload** ([`crate::payload`]): entry bytes to a value and back (codec and
//!    the `Option` mark; the envelope of generations around them);
//! 4. **fill** ([`fill`]): on a miss, the function once per key per process
//!    (single-flight), and the store of what should be kept.
//!
//! The in-process tier ([`local`], `l1` sites) comes before the lookup: a current value
//! it holds is the answer; what the lookup or the fill brings is kept there. A compression
//! or encryption stage belongs inside the payload.

pub(crate) mod batch;
mod check;
mod fill;
mod lease;
pub(crate) use self::fill::stored_ttl;
pub(crate) mod lookup;
mod refresh;
mod stale;

pub use crate::l1::LocalCopy;
use crate::l1::serve::LocalRead;

use crate::entry::Generations;
use crate::error::CacheError;
use crate::index::{Indexer, Indexing};
use crate::inner::Inner;
use crate::key::{self, CallKeys, KeyParts};
use crate::outcome::Mode;
use crate::payload::Payload;
use crate::sensitive::Keyring;
use crate::sensitive::Protection;
use crate::site::CallSite;
use crate::stats::Counters;
use bytes::Bytes;
use std::future::Future;
use std::time::Instant;

/// What the lookup found.
pub(crate) enum Read {
    /// The entry was current: the stored bytes, its payload from `payload_at` on, how to
    /// decode it, the generations it was read under, and (when asked for) when the entry
    /// expires at the latest.
    Hit {
        raw: Bytes,
        payload_at: usize,
        payload: Payload,
        generations: Generations,
        until: Option<Instant>,
    },
    /// Nothing usable; these are the generations to fill under.
    Miss(Generations),
    /// A fail-safe entry past its TTL, its generations current: a miss, whose old value
    /// may answer a failed reload (those generations still current then).
    Stale {
        raw: Bytes,
        payload_at: usize,
        payload: Payload,
        generations: Generations,
    },
    /// The cache cannot be used for this call.
    Bypass,
}

/// What a site decides from each loaded value (`unless`, `ttl_from`).
pub(crate) struct Decide<'a, T> {
    /// True: return the value, do not store it.
    pub unless: Option<&'a (dyn Fn(&T) -> bool + Sync)>,
    /// The TTL to store the value for, instead of the site's.
    pub ttl_from: Option<&'a (dyn Fn(&T) -> std::time::Duration + Sync)>,
}

impl<T> Default for Decide<'_, T> {
    fn default() -> Self {
        Decide {
            unless: None,
            ttl_from: None,
        }
    }
}

impl<T> Decide<'_, T> {
    /// The TTL to store `value` for (`base`: the site's, jittered), or `None`: not stored.
    pub fn ttl(&self, value: &T, base: std::time::Duration) -> Option<std::time::Duration> {
        if self.unless.is_some_and(|unless| unless(value)) {
            return None;
        }
        let ttl = self.ttl_from.map_or(base, |ttl_from| ttl_from(value));
        (!ttl.is_zero()).then_some(ttl)
    }
}

/// What a read does besides its key: an index of its result, the tier, decisions from its
/// value, a soft timeout.
pub(crate) struct Options<'a, T> {
    pub indexer: Option<Indexer<'a, T>>,
    pub copy: Option<&'a dyn LocalCopy<T>>,
    pub decide: Decide<'a, T>,
    pub soft: Option<Soft<T>>,
}

/// A soft timeout (`timeout = ...`), for a read running in a task of its own: a caller
/// holding a fail-safe value is answered with it through `answer` once the reload has
/// taken `timeout`, and a hit due for its early refresh at once; the read goes on (the
/// reload stores as every fill does) and its own output is dropped.
pub(crate) struct Soft<T> {
    pub timeout: std::time::Duration,
    pub answer: tokio::sync::oneshot::Sender<T>,
}

impl<T> Options<'_, T> {
    /// Nothing besides the key (the plain operations).
    pub fn none() -> Self {
        Options {
            indexer: None,
            copy: None,
            decide: Decide::default(),
            soft: None,
        }
    }
}

/// The cache-aside flow: guard, lookup, decode a hit, or fill on a miss.
pub(crate) async fn read_through<M, F>(
    inner: &Inner,
    site: &impl CallSite,
    parts: &KeyParts,
    options: Options<'_, M::Stored>,
    fut: F,
) -> M::Output
where
    M: Mode,
    F: Future<Output = M::Output>,
{
    let Options {
        indexer,
        copy,
        decide,
        soft,
    } = options;
    let counters = site.counters(inner);
    if parts.is_invalid() {
        inner.count_failure(&counters, "key", &CacheError::Unavailable);
        return load(&counters, fut).await;
    }
    let protection = match site.follows_its_prefix() {
        true => inner.protection(site.prefix(), site.sensitive()),
        false => Protection::Plain,
    };
    let keyring = match protection {
        Protection::Plain => None,
        Protection::Sealed(keyring) => Some(keyring),
        Protection::Refused => {
            inner.sensitive.refuse(site.prefix(), &counters);
            return load(&counters, fut).await;
        }
        Protection::Disputed => {
            counters.bypass();
            return load(&counters, fut).await;
        }
    };
    let parts = &*protection.parts(parts);
    if inner.backend.is_remote()
        && inner
            .breakers
            .single()
            .is_some_and(|breaker| breaker.is_open())
    {
        // Redis is being skipped: not even the keys are built.
        counters.bypass();
        return load(&counters, fut).await;
    }
    let keys = site.keys(&inner.namespace, parts);
    let local = match (&inner.tier, copy, site.l1()) {
        (Some(tier), Some(copy), Some(ttl))
            if !keys.is_plain() && !lookup::blocked(inner, site.prefix(), &keys) =>
        {
            if let Some(value) = tier.hit(&keys, copy) {
                counters.local_hit();
                return M::restore(value);
            }
            Some(LocalRead {
                copy,
                ttl,
                since: tier.view.seq(),
            })
        }
        _ => None,
    };
    // Fail-safe: a `Result` site's own grace, or the cache's default.
    let grace = match site.follows_its_prefix() {
        true => inner.fail_safe.grace(M::FAILS_VISIBLY, site.fail_safe()),
        false => std::time::Duration::ZERO,
    };
    let refresh = site.refresh().filter(|_| indexer.is_none());
    let expiry = local.is_some() || !grace.is_zero() || refresh.is_some();
    let read = lookup::lookup(inner, site.prefix(), &keys, &counters, expiry).await;
    let mut old = None;
    let generations = match read {
        Read::Hit {
            raw,
            payload_at,
            payload,
            generations,
            until,
        } => match open::<M::Stored>(keyring, &keys, &generations, payload, &raw[payload_at..]) {
            Ok(value) => {
                counters.hit();
                tracing::debug!(key = keys.entry(), "cache hit");
                if let Some(local) = &local {
                    // Kept no longer than its entry lives (unknown: not kept).
                    let encoded = raw.len() - payload_at;
                    let until = until.unwrap_or_else(Instant::now);
                    if let Some(tier) = &inner.tier {
                        tier.keep_read(local, &keys, &generations, &value, encoded, until);
                    }
                }
                // Early refresh: past its fraction of the TTL, one caller across the fleet
                // reloads now, in its own future; the others are served the hit.
                if let (Some(fraction), Some(until)) = (refresh, until)
                    && refresh::due(site.ttl(), fraction, until)
                    && Box::pin(refresh::claim(inner, &keys, until, &counters)).await
                {
                    // In a task of its own (a soft timeout): the caller has the hit now.
                    let value = match soft {
                        None => Some(value),
                        Some(soft) => {
                            let _ = soft.answer.send(value);
                            None
                        }
                    };
                    let besides = fill::Besides {
                        indexing: None,
                        local,
                        keyring,
                        grace,
                        old: None,
                        decide,
                        refresh: true,
                        lease: None,
                        soft: None,
                    };
                    let out = Box::pin(fill::fill::<M, F>(
                        inner,
                        site,
                        &keys,
                        generations,
                        besides,
                        &counters,
                        fut,
                    ))
                    .await;
                    return match (M::failed(&out), value) {
                        // The reload failed: the value it was to replace, current.
                        (true, Some(value)) => M::restore(value),
                        _ => out,
                    };
                }
                if inner.consistency.samples() {
                    let check = check::check::<M>(inner, site, &keys, generations, value, fut);
                    return Box::pin(check).await;
                }
                return M::restore(value);
            }
            Err(error) => {
                // Written by another shape of the type: a miss, overwritten below.
                counters.decode_error();
                tracing::debug!(key = keys.entry(), %error, "cache entry of another type; reloading");
                generations
            }
        },
        Read::Miss(generations) => generations,
        Read::Stale {
            raw,
            payload_at,
            payload,
            generations,
        } => {
            let stale = stale::Stale {
                raw,
                payload_at,
                payload,
            };
            // Its reload failed a moment ago: the old value, its generations just read
            // current, until the throttle ends.
            if !grace.is_zero()
                && inner.fail_safe.is_throttled(keys.entry())
                && let Ok(value) = stale.value::<M::Stored>(keyring, &keys, &generations)
            {
                counters.stale_served();
                return M::restore(value);
            }
            if !grace.is_zero() {
                old = Some(stale);
            }
            generations
        }
        Read::Bypass => return load(&counters, fut).await,
    };
    tracing::debug!(key = keys.entry(), "cache miss");
    let indexing = match indexer {
        None => None,
        Some(indexer) => match Box::pin(fences(inner, &keys, parts, &counters)).await {
            Some((fences, expected)) => Some(Indexing {
                indexer,
                fences,
                expected,
            }),
            None => return load(&counters, fut).await,
        },
    };
    let besides = fill::Besides {
        indexing,
        local,
        keyring,
        grace,
        old,
        decide,
        refresh: false,
        lease: match site.follows_its_prefix() && inner.backend.is_remote() {
            true => inner.leases.of(site.lease()),
            false => None,
        },
        soft,
    };
    // On the heap: a hit's future (most calls) is then a fraction of the size, cheaper
    // to move and to box for whoever awaits it; a miss pays one allocation.
    Box::pin(fill::fill::<M, F>(
        inner,
        site,
        &keys,
        generations,
        besides,
        &counters,
        fut,
    ))
    .await
}

/// The fences of the call's result tags, in its scope and in its bucket, read (created
/// when missing) before the load (or a write-through's body); `None` if one could not
/// be.
pub(crate) async fn fences(
    inner: &Inner,
    keys: &CallKeys,
    parts: &KeyParts,
    counters: &Counters,
) -> Option<(Vec<String>, Vec<Bytes>)> {
    let fences: Vec<String> = parts
        .result_tags()
        .iter()
        .flat_map(|tag| {
            [keys.scope_generation(), keys.prefix_generation()]
                .map(|base| key::index_key(base, tag, None))
        })
        .collect();
    let mut expected = Vec::with_capacity(fences.len());
    for fence in &fences {
        expected.push(lookup::create_generation(inner, fence, counters).await?);
    }
    Some((fences, expected))
}

/// The value in `bytes` (an entry's payload), opened first with `keyring` for a
/// sensitive call (its entry key and the generations it was read under are the
/// associated data); why not, for the log.
fn open<T: serde::de::DeserializeOwned>(
    keyring: Option<&Keyring>,
    keys: &CallKeys,
    generations: &Generations,
    payload: Payload,
    bytes: &[u8],
) -> Result<T, String> {
    match keyring {
        None => payload.decode(bytes).map_err(|error| error.to_string()),
        Some(keyring) => {
            let plain = keyring
                .open(keys.entry(), generations, bytes)
                .map_err(|error| error.to_string())?;
            payload.decode(&plain).map_err(|error| error.to_string())
        }
    }
}

/// Runs the function, counting and timing the load.
async fn load<O>(counters: &Counters, fut: impl Future<Output = O>) -> O {
    let started = Instant::now();
    let out = fut.await;
    counters.load(started.elapsed());
    out
}
