//! The fill stage: on a miss, the function runs once per key per process; the leader
//! stores what should be kept (sealed with the generations it read before the load) and
//! hands the payload to its followers.

use super::{load, stale};
use crate::backend::FillIndexed;
use crate::entry::Generations;
use crate::error::CacheError;
use crate::index::{Index, Indexing};
use crate::inner::Inner;
use crate::key::CallKeys;
use crate::outcome::Mode;
use crate::payload::Payload;
use crate::sensitive::Keyring;
use crate::site::CallSite;
use crate::stats::Counters;
use bytes::Bytes;
use std::future::Future;
use std::time::{Duration, Instant};

/// What a fill does besides storing the entry: index it under the values of its result,
/// keep it in the in-process tier, seal it (a sensitive call).
pub(super) struct Besides<'a, T> {
    pub indexing: Option<Indexing<'a, T>>,
    pub local: Option<crate::l1::serve::LocalRead<'a, T>>,
    pub keyring: Option<&'a Keyring>,
    /// How long the entry is kept past its TTL (fail-safe; zero: not).
    pub grace: Duration,
    /// The old value of an entry past its TTL, to answer a failed reload with.
    pub old: Option<super::stale::Stale>,
    /// What the site decides from the value (`unless`, `ttl_from`).
    pub decide: super::Decide<'a, T>,
    /// An early refresh of a hit, not a miss.
    pub refresh: bool,
    /// The fleet's stampede lease the leader takes before it loads, for this long.
    pub lease: Option<Duration>,
    /// A soft timeout: the caller answered with the old value meanwhile.
    pub soft: Option<super::Soft<T>>,
}

/// Runs (or joins) the load of a missed call and stores its result; for an early refresh
/// ([`super::refresh`]), the same load and store under the generations the hit read (an
/// invalidation during the reload makes the stored entry dead, as for every fill),
/// counted as a refresh rather than a miss.
pub(super) async fn fill<M, F>(
    inner: &Inner,
    site: &impl CallSite,
    keys: &CallKeys,
    generations: Generations,
    besides: Besides<'_, M::Stored>,
    counters: &Counters,
    fut: F,
) -> M::Output
where
    M: Mode,
    F: Future<Output = M::Output>,
{
    let Besides {
        indexing,
        local,
        keyring,
        grace,
        old,
        decide,
        refresh,
        lease,
        soft,
    } = besides;
    // A flight is keyed by the entry and the generations (and fences) read: a call
    // that starts after an invalidation never joins a load that began before it.
    let fences = indexing
        .as_ref()
        .map_or(&[][..], |indexing| &indexing.expected);
    let flight_key = flight_key(keys, &generations, fences);
    let payload = Payload::for_keys(keys, inner.codec).kept(grace);
    let lease = lease.map(|ttl| (crate::key::lease_key(keys.entry(), &flight_key), ttl));
    let role = inner.flights.join(flight_key);
    // Counted once the call has joined the flight: a miss counted is a caller that
    // will share the load under way (what the single-flight test waits for).
    match refresh {
        true => counters.refreshed(),
        false => counters.miss(),
    }
    let leader = match role {
        crate::flight::Role::Leader(leader) => leader,
        crate::flight::Role::Follower(follower) => {
            let kept = old.as_ref().map(|old| (old, &generations, keyring));
            let waited = stale::within(inner, keys, kept, soft, counters, follower.wait());
            if let Some(bytes) = waited.await
                && let Ok(value) = payload.decode::<M::Stored>(&bytes)
            {
                counters.coalesced();
                return M::restore(value);
            }
            // The leader's reload failed, and its key is held back: the old value.
            if let Some(old) = &old
                && inner.fail_safe.is_throttled(keys.entry())
                && let Some(out) = stale::old_value::<M>(
                    inner,
                    site,
                    keys,
                    &generations,
                    keyring,
                    old,
                    counters,
                    "the function returned an error",
                )
                .await
            {
                return out;
            }
            return load(counters, fut).await;
        }
    };
    // One process of the fleet loads: this one, holding the lease until the store is
    // done (dropped, it is handed back), or another whose value is looked up after it.
    let _holder = match lease {
        None => None,
        Some((key, ttl)) => match super::lease::take(inner, key, ttl, counters).await {
            super::lease::Lease::Load(holder) => holder,
            super::lease::Lease::LookAgain => {
                let prefix = site.prefix();
                let found = super::lease::look_again(inner, prefix, keys, keyring, counters);
                if let Some(value) = found.await {
                    leader.publish(payload.encode(&value).ok().map(Bytes::from));
                    counters.coalesced();
                    return M::restore(value);
                }
                None
            }
        },
    };
    let out = match &old {
        None => load(counters, fut).await,
        Some(kept) => match stale::within(
            inner,
            keys,
            Some((kept, &generations, keyring)),
            soft,
            counters,
            stale::reload::<M>(counters, fut),
        )
        .await
        {
            stale::Reload::Done(out) => {
                inner
                    .fail_safe
                    .recovered(site.prefix(), site.name(), keys.entry());
                out
            }
            stale::Reload::Failed(failure) => {
                leader.publish(None);
                let why = stale::why(&failure);
                let old = stale::old_value::<M>(
                    inner,
                    site,
                    keys,
                    &generations,
                    keyring,
                    kept,
                    counters,
                    why,
                )
                .await;
                return stale::answer(old, failure);
            }
        },
    };
    let Some(value) = M::stored(&out) else {
        leader.publish(None);
        return out;
    };
    // `unless` and `ttl_from`: the value is still the callers' (and the followers'), but
    // stored only for a TTL the site decides.
    let Some(ttl) = decide.ttl(value, stored_ttl(inner, site, Duration::ZERO)) else {
        match payload.encode(value) {
            Ok(bytes) if keyring.is_none() => leader.publish(Some(Bytes::from(bytes))),
            _ => leader.publish(None),
        }
        return out;
    };
    let encoded = match payload.encode(value) {
        Ok(bytes) => bytes,
        Err(error) => {
            inner.count_failure(counters, "encode", &CacheError::from(error));
            leader.publish(None);
            return out;
        }
    };
    // Kept in the tier for no longer than the entry's TTL; an indexed entry only once it
    // is stored (and listed in its indexes, whose removal notices name it).
    let encoded_len = encoded.len();
    let keep = |local: &crate::l1::serve::LocalRead<'_, M::Stored>| {
        let until = Instant::now() + local.ttl.min(ttl);
        if let Some(tier) = &inner.tier {
            tier.keep_read(local, keys, &generations, value, encoded_len, until);
        }
    };
    if let Some(local) = local.as_ref().filter(|_| indexing.is_none()) {
        keep(local);
    }
    let stored = match keyring {
        None => {
            let (stored, payload_at) = payload.envelop(&generations, encoded);
            leader.publish(Some(stored.slice(payload_at..)));
            stored
        }
        Some(keyring) => {
            let sealed = keyring.seal(keys.entry(), &generations, &encoded);
            // Followers decode the plaintext, in this process.
            leader.publish(Some(Bytes::from(encoded)));
            let Some(sealed) = sealed else {
                inner.count_failure(counters, "seal", &CacheError::Unavailable);
                return out;
            };
            payload.envelop(&generations, sealed).0
        }
    };
    let ttl = ttl + grace;
    let written = match indexing {
        None => {
            inner
                .guarded(keys.entry(), inner.backend.set(keys.entry(), stored, ttl))
                .await
        }
        Some(indexing) => {
            let filled = fill_indexed(inner, keys, stored, ttl, value, indexing, keyring).await;
            if let (Ok(true), Some(local)) = (&filled, &local) {
                keep(local);
            }
            filled.map(drop)
        }
    };
    if let Err(error) = written {
        inner.count_failure(counters, "fill", &error);
    }
    out
}

/// The key of a fill's flight: the entry, the generations (and fences) it was read under.
pub(super) fn flight_key(keys: &CallKeys, generations: &Generations, fences: &[Bytes]) -> Vec<u8> {
    let all = [&generations.prefix, &generations.scope]
        .into_iter()
        .chain(&generations.tags)
        .chain(fences);
    let mut flight_key = Vec::with_capacity(keys.entry().len() + 64);
    flight_key.extend_from_slice(keys.entry().as_bytes());
    for generation in all {
        flight_key.push(0);
        flight_key.extend_from_slice(generation);
    }
    flight_key
}

/// How long a fill of `site` is kept in the backend: its TTL, spread by its jitter (an
/// attribute site's own, or the cache's default), plus its fail-safe grace.
pub(crate) fn stored_ttl(inner: &Inner, site: &impl CallSite, grace: Duration) -> Duration {
    let jitter = match site.follows_its_prefix() {
        true => site.jitter().unwrap_or(inner.fail_safe.jitter),
        false => 0.0,
    };
    crate::fail_safe::jittered(site.ttl(), jitter) + grace
}

/// The fill of an indexed site: stored and listed under each value `value` depends
/// on (in its scope's index and its bucket's), unless a fence moved since before the
/// load (then nothing is stored); whether it was stored.
async fn fill_indexed<T>(
    inner: &Inner,
    keys: &CallKeys,
    stored: Bytes,
    ttl: Duration,
    value: &T,
    indexing: Indexing<'_, T>,
    keyring: Option<&Keyring>,
) -> Result<bool, CacheError> {
    let mut index = Index::default();
    (indexing.indexer)(value, &mut index);
    let Some(values) = index.values() else {
        tracing::warn!(
            key = keys.entry(),
            "cache: a value the entry depends on did not serialize; not cached"
        );
        return Ok(false);
    };
    let indexes = crate::index::index_keys(keys, values, keyring);
    let op = FillIndexed {
        entry: keys.entry(),
        value: &stored,
        ttl,
        fences: &indexing.fences,
        expected: &indexing.expected,
        indexes: &indexes,
    };
    let filled = inner
        .guarded(keys.entry(), inner.backend.fill_indexed(&op))
        .await?;
    if !filled {
        tracing::debug!(
            key = keys.entry(),
            "cache: an invalidation ran during the load; not filled"
        );
    }
    Ok(filled)
}
