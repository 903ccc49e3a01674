//! The read of a batch site (`#[cached(batch = ids)]`): many ids, each its own entry (the
//! entry of the single-id read with the same prefix, name and key), all looked up in one
//! round trip, the function called once with the ids that missed.
//!
//! 1. **keys**: each id is the last key argument of its own call; ids naming one entry
//!    are one id;
//! 2. **tier**: an `l1` site's current values are taken first;
//! 3. **lookup**: one `MGET` of the generations (every id shares its scope's, read once)
//!    and of each entry left, with their TTLs when the tier or a fail-safe grace needs
//!    them; every key of a batch is in one Cluster slot;
//! 4. **flights**: each id that missed joins its single flight, in the order of the
//!    flights' keys, so two batches never wait for each other: an id another call is
//!    loading is waited for (and taken over if that load brings nothing);
//! 5. **load**: the function, once, with the ids this call leads; what it returns for
//!    them is handed to the flights' followers, then stored (one pipeline), and the
//!    flights end: when the call returns, its entries are in Redis.

mod found;

use self::found::{look_again, look_up};
use super::{Decide, load, lookup};
use crate::entry::Generations;
use crate::error::CacheError;
use crate::flight::{Leader, Role};
use crate::inner::Inner;
use crate::key::{CallKeys, KeyParts};
use crate::l1::LocalCopy;
use crate::l1::serve::LocalRead;
use crate::payload::Payload;
use crate::sensitive::{Keyring, Protection};
use crate::site::{CallSite, Site};
use crate::stats::Counters;
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// One id of a batch and the keys of its entry.
struct Call<K> {
    id: K,
    keys: CallKeys,
    /// Its key argument encoded (before any hashing): what the function's answers are
    /// matched by.
    arg: String,
}

/// A batch read: the values of `ids` (each once, in their order, those the function
/// returned), from the tier, from Redis, or from one call of `body` with the ids that
/// missed; `Err` is the function's own failure, returned as it is.
pub(crate) async fn read_many<K, V, E, B, Fut>(
    inner: &Inner,
    site: &'static Site,
    parts: &KeyParts,
    ids: Vec<K>,
    copy: Option<&dyn LocalCopy<V>>,
    fails_visibly: bool,
    body: B,
) -> Result<Vec<(K, V)>, E>
where
    K: serde::Serialize + Clone,
    V: serde::Serialize + serde::de::DeserializeOwned,
    B: FnOnce(Vec<K>) -> Fut,
    Fut: Future<Output = Result<Vec<(K, V)>, E>>,
{
    let counters = site.counters(inner);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if parts.is_invalid() {
        inner.count_failure(&counters, "key", &CacheError::Unavailable);
        return load(&counters, body(ids)).await;
    }
    let keyring = match inner.protection(site.prefix(), site.sensitive()) {
        Protection::Plain => None,
        Protection::Sealed(keyring) => Some(keyring),
        Protection::Refused => {
            inner.sensitive.refuse(site.prefix(), &counters);
            return load(&counters, body(ids)).await;
        }
        Protection::Disputed => {
            counters.bypass();
            return load(&counters, body(ids)).await;
        }
    };
    let open_breaker = inner.backend.is_remote()
        && inner
            .breakers
            .single()
            .is_some_and(|breaker| breaker.is_open());
    let Some(calls) = calls(inner, site, parts, keyring, &ids).filter(|_| !open_breaker) else {
        counters.bypass();
        return load(&counters, body(ids)).await;
    };
    if lookup::blocked(inner, site.prefix(), &calls[0].keys) {
        counters.bypass();
        return load(&counters, body(ids)).await;
    }
    let mut found: Vec<Option<V>> = calls.iter().map(|_| None).collect();
    let local = match (&inner.tier, copy, site.l1()) {
        (Some(tier), Some(copy), Some(ttl)) => {
            let since = tier.view.seq();
            for (call, found) in calls.iter().zip(&mut found) {
                *found = tier.hit(&call.keys, copy);
                if found.is_some() {
                    counters.local_hit();
                }
            }
            Some(LocalRead { copy, ttl, since })
        }
        _ => None,
    };
    let grace = inner.fail_safe.grace(fails_visibly, site.fail_safe());
    let by_arg: HashMap<&str, usize> = calls
        .iter()
        .enumerate()
        .map(|(at, call)| (call.arg.as_str(), at))
        .collect();
    let place = |(id, _): &(K, V)| by_arg.get(arg_of(id)?.as_str()).copied();
    let Some(generations) =
        look_up(inner, &calls, &mut found, &local, keyring, grace, &counters).await
    else {
        // Redis could not answer: what the tier did not have comes from the function.
        let missing = missing_ids(&calls, &found);
        return finish(&calls, found, load(&counters, body(missing)).await, place);
    };
    let (mut leaders, waited) = lead(inner, &calls, &mut found, &generations, &counters).await;
    if waited {
        // A load this call waited for may have stored, and left, the entries of ids it
        // then led: read again before loading them.
        look_again(
            inner,
            &calls,
            &mut found,
            &mut leaders,
            &generations,
            keyring,
        )
        .await;
    }
    let wanted: Vec<K> = leaders.keys().map(|&at| calls[at].id.clone()).collect();
    if wanted.is_empty() {
        return finish(&calls, found, Ok(Vec::new()), place);
    }
    tracing::debug!(
        prefix = site.prefix(),
        ids = wanted.len(),
        "cache batch miss"
    );
    let loaded = load(&counters, body(wanted)).await;
    let mut filled = Filled {
        inner,
        site,
        generations: &generations,
        local: local.as_ref(),
        keyring,
        grace,
        leaders,
        stores: Vec::new(),
    };
    let out = finish(&calls, found, loaded, |pair| {
        let at = place(pair)?;
        filled.fill(&calls[at].keys, at, &pair.1);
        Some(at)
    });
    filled.store(&counters).await;
    out
}

/// Each id's call, its key built as the single-id read builds it; `None` when an id does
/// not encode (the cache is then skipped for the batch).
fn calls<K: serde::Serialize + Clone>(
    inner: &Inner,
    site: &Site,
    parts: &KeyParts,
    keyring: Option<&Keyring>,
    ids: &[K],
) -> Option<Vec<Call<K>>> {
    // Ids naming one entry are one: told apart by their encoded argument (the entry key
    // is a function of it).
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    let mut calls = Vec::with_capacity(ids.len());
    let before = parts.args().len();
    for id in ids {
        let mut call_parts = parts.clone();
        call_parts.arg(id);
        if call_parts.is_invalid() {
            return None;
        }
        let arg = call_parts.args()[before..].to_owned();
        if !seen.insert(arg.clone()) {
            continue;
        }
        let keys = match keyring {
            None => site.keys(&inner.namespace, &call_parts),
            Some(keyring) => site.keys(
                &inner.namespace,
                &call_parts.hashed(|component| keyring.hash_component(component)),
            ),
        };
        calls.push(Call {
            id: id.clone(),
            keys,
            arg,
        });
    }
    Some(calls)
}

/// An id's key argument, encoded.
fn arg_of<K: serde::Serialize + ?Sized>(id: &K) -> Option<String> {
    let mut parts = KeyParts::new();
    parts.arg(id);
    (!parts.is_invalid()).then(|| parts.args().to_owned())
}

/// The flights this call leads, by call.
type Leaders<'a> = std::collections::BTreeMap<usize, Leader<'a>>;

/// Joins the flight of each id still missing, in the order of the flights' keys, waiting
/// for each one another call leads before joining the next (so that two batches never
/// wait for each other): its value is decoded into `found`. Returns the flights this
/// call leads, and whether it waited.
async fn lead<'a, K, V: serde::de::DeserializeOwned>(
    inner: &'a Inner,
    calls: &[Call<K>],
    found: &mut [Option<V>],
    generations: &Generations,
    counters: &Counters,
) -> (Leaders<'a>, bool) {
    let mut flights: Vec<(Vec<u8>, usize)> = (0..calls.len())
        .filter(|&at| found[at].is_none())
        .map(|at| {
            (
                super::fill::flight_key(&calls[at].keys, generations, &[]),
                at,
            )
        })
        .collect();
    flights.sort();
    let mut leaders = Leaders::new();
    let mut waited = false;
    for (flight, at) in flights {
        let payload = Payload::for_keys(&calls[at].keys, inner.codec);
        loop {
            match inner.flights.join(flight.clone()) {
                Role::Leader(leader) => {
                    leaders.insert(at, leader);
                    break;
                }
                Role::Follower(follower) => {
                    waited = true;
                    // Nothing from that load (it failed, or had no value): take it over.
                    let Some(bytes) = follower.wait().await else {
                        continue;
                    };
                    if let Ok(value) = payload.decode::<V>(&bytes) {
                        counters.coalesced();
                        found[at] = Some(value);
                        break;
                    }
                }
            }
        }
    }
    (leaders, waited)
}

/// What the function returned for the ids this call leads, on its way to Redis.
struct Filled<'a, V> {
    inner: &'a Inner,
    site: &'static Site,
    generations: &'a Generations,
    local: Option<&'a LocalRead<'a, V>>,
    keyring: Option<&'a Keyring>,
    grace: Duration,
    leaders: Leaders<'a>,
    stores: Vec<(String, Bytes, Duration)>,
}

impl<V: serde::Serialize> Filled<'_, V> {
    /// `value`, loaded for the call at `at` (if this call leads it): handed to the
    /// flight's followers, kept in the tier, and its entry made ready to store.
    fn fill(&mut self, keys: &CallKeys, at: usize, value: &V) {
        let Some(leader) = self.leaders.get(&at) else {
            return;
        };
        let inner = self.inner;
        let payload = Payload::for_keys(keys, inner.codec).kept(self.grace);
        let Ok(encoded) = payload.encode(value) else {
            return;
        };
        let ttl = Decide::default()
            .ttl(value, super::stored_ttl(inner, self.site, Duration::ZERO))
            .unwrap_or_default();
        if let (Some(local), Some(tier)) = (self.local, &inner.tier) {
            let until = Instant::now() + local.ttl.min(ttl);
            tier.keep_read(local, keys, self.generations, value, encoded.len(), until);
        }
        let stored = match self.keyring {
            None => {
                let (stored, payload_at) = payload.envelop(self.generations, encoded);
                leader.publish(Some(stored.slice(payload_at..)));
                stored
            }
            Some(keyring) => {
                let sealed = keyring.seal(keys.entry(), self.generations, &encoded);
                leader.publish(Some(Bytes::from(encoded)));
                let Some(sealed) = sealed else {
                    return;
                };
                payload.envelop(self.generations, sealed).0
            }
        };
        self.stores
            .push((keys.entry().to_owned(), stored, ttl + self.grace));
    }

    /// Stores the entries in one round trip, then ends the flights (a read that joined
    /// them meanwhile was answered when each value was published).
    async fn store(self, counters: &Counters) {
        let Filled {
            inner,
            leaders,
            stores,
            ..
        } = self;
        if let Some((first, _, _)) = stores.first() {
            let written = inner.guarded(first, inner.backend.set_many(&stores)).await;
            if let Err(error) = written {
                inner.count_failure(counters, "fill", &error);
            }
        }
        drop(leaders);
    }
}

/// The ids of the calls not found.
fn missing_ids<K: Clone, V>(calls: &[Call<K>], found: &[Option<V>]) -> Vec<K> {
    calls
        .iter()
        .zip(found)
        .filter(|(_, found)| found.is_none())
        .map(|(call, _)| call.id.clone())
        .collect()
}

/// The function's answer merged with what was found: each of its pairs is shown to
/// `place` (which says which call it answers, if any) and takes that call's place; pairs
/// for ids not asked for come after.
fn finish<K: Clone, V, E>(
    calls: &[Call<K>],
    mut found: Vec<Option<V>>,
    loaded: Result<Vec<(K, V)>, E>,
    mut place: impl FnMut(&(K, V)) -> Option<usize>,
) -> Result<Vec<(K, V)>, E> {
    let mut loaded_at: Vec<Option<K>> = calls.iter().map(|_| None).collect();
    let mut extra = Vec::new();
    for pair in loaded? {
        match place(&pair) {
            Some(at) if found[at].is_none() => {
                loaded_at[at] = Some(pair.0);
                found[at] = Some(pair.1);
            }
            _ => extra.push(pair),
        }
    }
    let mut out: Vec<(K, V)> = calls
        .iter()
        .zip(found)
        .zip(loaded_at)
        .filter_map(|((call, value), id)| Some((id.unwrap_or_else(|| call.id.clone()), value?)))
        .collect();
    out.extend(extra);
    Ok(out)
}
