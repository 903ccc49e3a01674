//! What a batch finds in Redis: its entries, looked up in one round trip, and looked up
//! again for the ids it came to lead after waiting for another load.

use super::{Call, Leaders};
use crate::entry::{self, Generations};
use crate::error::CacheError;
use crate::inner::Inner;
use crate::l1::serve::LocalRead;
use crate::payload::Payload;
use crate::read::{lookup, open};
use crate::sensitive::Keyring;
use crate::stats::Counters;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// The lookup of every entry not found yet, in one round trip; fills `found` with the
/// current ones and returns the generations a fill records (created when missing).
/// `None`: Redis could not answer.
pub(super) async fn look_up<K, V: serde::de::DeserializeOwned>(
    inner: &Inner,
    calls: &[Call<K>],
    found: &mut [Option<V>],
    local: &Option<LocalRead<'_, V>>,
    keyring: Option<&Keyring>,
    grace: Duration,
    counters: &Counters,
) -> Option<Generations> {
    let first = &calls[0].keys;
    let tag_keys = first.tag_generations();
    let mut all: Vec<&str> = vec![first.prefix_generation(), first.scope_generation()];
    all.extend(tag_keys.iter().map(String::as_str));
    let fixed = all.len();
    let left: Vec<usize> = (0..calls.len()).filter(|&at| found[at].is_none()).collect();
    all.extend(left.iter().map(|&at| calls[at].keys.entry()));
    let ttls: Vec<&str> = match local.is_some() || !grace.is_zero() {
        true => all[fixed..].to_vec(),
        false => Vec::new(),
    };
    let sent = Instant::now();
    let read = inner.backend.mget_ttls(&all, &ttls);
    let (values, remaining) = match inner.guarded(first.entry(), read).await {
        Ok((values, remaining)) if values.len() == all.len() => (values, remaining),
        Ok(_) => {
            inner.count_failure(counters, "read", &CacheError::Unavailable);
            return None;
        }
        Err(error) => {
            inner.count_failure(counters, "read", &error);
            return None;
        }
    };
    let mut values = values.into_iter();
    let (prefix, scope) = (values.next().flatten(), values.next().flatten());
    let tags: Vec<Option<Bytes>> = values.by_ref().take(tag_keys.len()).collect();
    let all_tags: Option<Vec<Bytes>> = tags.iter().cloned().collect();
    let (Some(prefix), Some(scope), Some(tag_tokens)) = (prefix.clone(), scope.clone(), all_tags)
    else {
        // A generation is missing: every entry is a miss, filled under new ones.
        for _ in &left {
            counters.miss();
        }
        return lookup::resolve_generations(inner, first, prefix, scope, tags, counters).await;
    };
    let generations = Generations {
        prefix,
        scope,
        tags: tag_tokens,
    };
    for (n, (raw, &at)) in values.zip(&left).enumerate() {
        let keys = &calls[at].keys;
        let until = remaining.get(n).copied().flatten().map(|left| sent + left);
        let value = raw.and_then(|raw| {
            let (payload_at, codec, kept) = match entry::decode(&raw) {
                Ok(entry) if entry.is_current_with(&generations.prefix, &generations.scope, &generations.tags) => {
                    (raw.len() - entry.payload.len(), entry.codec, entry.grace)
                }
                Ok(_) => return None,
                Err(error) => {
                    counters.decode_error();
                    tracing::debug!(key = keys.entry(), %error, "corrupt cache entry; reloading");
                    return None;
                }
            };
            // Kept past its TTL (fail-safe): fresh only while more than its grace is left.
            let until = match kept.is_zero() {
                true => until,
                false => {
                    let fresh = until?.checked_sub(kept)?;
                    if fresh <= Instant::now() {
                        return None; // past its TTL: reloaded (a batch serves nothing stale)
                    }
                    Some(fresh)
                }
            };
            let payload = Payload::entry(codec);
            match open::<V>(keyring, keys, &generations, payload, &raw[payload_at..]) {
                Ok(value) => Some((value, raw.len() - payload_at, until)),
                Err(error) => {
                    counters.decode_error();
                    tracing::debug!(key = keys.entry(), %error, "cache entry of another type; reloading");
                    None
                }
            }
        });
        match value {
            Some((value, encoded, until)) => {
                counters.hit();
                if let (Some(local), Some(tier)) = (local, &inner.tier) {
                    let until = until.unwrap_or_else(Instant::now);
                    tier.keep_read(local, keys, &generations, &value, encoded, until);
                }
                found[at] = Some(value);
            }
            None => counters.miss(),
        }
    }
    Some(generations)
}

/// Reads the entries of the ids this call leads once more (after waiting for other
/// loads): those now current are taken, and handed to their flights' followers.
pub(super) async fn look_again<K, V: serde::Serialize + serde::de::DeserializeOwned>(
    inner: &Inner,
    calls: &[Call<K>],
    found: &mut [Option<V>],
    leaders: &mut Leaders<'_>,
    generations: &Generations,
    keyring: Option<&Keyring>,
) {
    let Some(&first) = leaders.keys().next() else {
        return;
    };
    let entries: Vec<&str> = leaders.keys().map(|&at| calls[at].keys.entry()).collect();
    let read = inner.backend.mget(&entries);
    let Ok(values) = inner.guarded(calls[first].keys.entry(), read).await else {
        return; // loaded, as they would have been
    };
    let led: Vec<usize> = leaders.keys().copied().collect();
    for (at, raw) in led.into_iter().zip(values) {
        let Some(raw) = raw else { continue };
        let keys = &calls[at].keys;
        let Ok(entry) = entry::decode(&raw) else {
            continue;
        };
        if !entry.is_current_with(&generations.prefix, &generations.scope, &generations.tags)
            || !entry.grace.is_zero()
        {
            continue;
        }
        let payload_at = raw.len() - entry.payload.len();
        let payload = Payload::entry(entry.codec);
        if let Ok(value) = open::<V>(keyring, keys, generations, payload, &raw[payload_at..])
            && let Some(leader) = leaders.remove(&at)
        {
            leader.publish(payload.encode(&value).ok().map(Bytes::from));
            found[at] = Some(value);
        }
    }
}
