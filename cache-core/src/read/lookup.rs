//! The lookup stage: one read of the backend, checked client-side, and the generations
//! a miss must fill under (created when missing, before the load starts).

use super::Read;
use crate::entry;
use crate::entry::Generations;
use crate::error::CacheError;
use crate::generation;
use crate::inner::Inner;
use crate::key::{self, CallKeys};
use crate::payload::Payload;
use crate::stats::Counters;
use bytes::Bytes;
use std::time::Instant;

/// The read of a call: one `MGET` of both generations and the entry (a `GET` for a
/// user key, which has no generations), shared with the hits in flight at the same time
/// when there are any. With `expiry` (a read for the in-process tier), the entry's
/// remaining TTL is read in the same round trip: a hit then says until when its value
/// may be kept.
pub(crate) async fn lookup(
    inner: &Inner,
    prefix: &str,
    keys: &CallKeys,
    counters: &Counters,
    expiry: bool,
) -> Read {
    if keys.is_plain() {
        return match inner
            .guarded(keys.entry(), inner.backend.get(keys.entry()))
            .await
        {
            Ok(Some(raw)) => Read::Hit {
                raw,
                payload_at: 0,
                payload: Payload::plain(),
                generations: Generations::default(),
                until: None,
            },
            Ok(None) => Read::Miss(Generations::default()),
            Err(error) => {
                inner.count_failure(counters, "read", &error);
                Read::Bypass
            }
        };
    }
    if blocked(inner, prefix, keys) {
        counters.bypass();
        return Read::Bypass;
    }
    let tag_keys = keys.tag_generations();
    let fixed = [
        keys.prefix_generation(),
        keys.scope_generation(),
        keys.entry(),
    ];
    let sent = Instant::now();
    let with_tags: Vec<&str>;
    let all: &[&str] = match tag_keys.is_empty() {
        true => &fixed,
        false => {
            with_tags = fixed
                .into_iter()
                .chain(tag_keys.iter().map(String::as_str))
                .collect();
            &with_tags
        }
    };
    let read = inner.backend.read_hit(all, keys.entry(), expiry);
    let (read, mut left) = match inner.guarded(keys.entry(), read).await {
        Ok((values, left)) => (Ok(values), left),
        Err(error) => (Err(error), None),
    };
    let mut values = match read {
        Ok(values) if values.len() == fixed.len() + tag_keys.len() => values.into_iter(),
        Ok(_) => {
            inner.count_failure(counters, "read", &CacheError::Unavailable);
            return Read::Bypass;
        }
        Err(error) => {
            inner.count_failure(counters, "read", &error);
            return Read::Bypass;
        }
    };
    let (prefix, scope, raw) = (
        values.next().flatten(),
        values.next().flatten(),
        values.next().flatten(),
    );
    // Empty, without an allocation, for a call without tags.
    let tags: Vec<Option<Bytes>> = values.collect();
    let all_tags: Option<Vec<Bytes>> = tags.iter().cloned().collect();
    let current = match (&prefix, &scope, &raw, &all_tags) {
        (Some(prefix), Some(scope), Some(raw), Some(all_tags)) => match entry::decode(raw) {
            Ok(entry) if entry.is_current_with(prefix, scope, all_tags) => {
                Some((raw.len() - entry.payload.len(), entry.codec, entry.grace))
            }
            Ok(_) => None, // filled under an older generation: invalidated
            Err(error) => {
                counters.decode_error();
                tracing::debug!(key = keys.entry(), %error, "corrupt cache entry; reloading");
                None
            }
        },
        _ => None,
    };
    // Moved, not cloned: a clone of a `Bytes` made from a `Vec` allocates.
    match (current, raw, prefix, scope, all_tags) {
        (Some((payload_at, codec, grace)), Some(raw), Some(prefix), Some(scope), Some(tags)) => {
            let generations = Generations {
                prefix,
                scope,
                tags,
            };
            let payload = Payload::entry(codec);
            if grace.is_zero() {
                return Read::Hit {
                    raw,
                    payload_at,
                    payload,
                    generations,
                    // Measured from before the request left: never later than the end.
                    until: left.map(|left| sent + left),
                };
            }
            // Kept past its TTL (fail-safe): fresh while more than its grace is left.
            if !expiry {
                left = Box::pin(remaining_ttl(inner, keys, counters)).await;
            }
            match left.and_then(|left| left.checked_sub(grace)) {
                Some(fresh) if !fresh.is_zero() => Read::Hit {
                    raw,
                    payload_at,
                    payload,
                    generations,
                    until: Some(sent + fresh),
                },
                _ => Read::Stale {
                    raw,
                    payload_at,
                    payload,
                    generations,
                },
            }
        }
        (_, _, prefix, scope, _) => {
            // On the heap, as every step of a miss: a hit's future stays small.
            let resolve = resolve_generations(inner, keys, prefix, scope, tags, counters);
            match Box::pin(resolve).await {
                Some(generations) => Read::Miss(generations),
                None => Read::Bypass,
            }
        }
    }
}

/// How long the entry of `keys` has left (`PTTL`): for a fail-safe entry read without
/// it (by a site that has no fail-safe of its own); `None` if unknown.
async fn remaining_ttl(
    inner: &Inner,
    keys: &CallKeys,
    counters: &Counters,
) -> Option<std::time::Duration> {
    let entry = [keys.entry()];
    let read = inner.backend.mget_ttl(&entry, keys.entry());
    match inner.guarded(keys.entry(), read).await {
        Ok((_, left)) => left,
        Err(error) => {
            inner.count_failure(counters, "read", &error);
            None
        }
    }
}

/// Whether the generations `expected` (those a fail-safe value was filled under) are
/// still the current ones of `keys`: read again when its reload failed, so that a value
/// an invalidation removed meanwhile is never served.
pub(crate) async fn still_current(
    inner: &Inner,
    keys: &CallKeys,
    expected: &Generations,
    counters: &Counters,
) -> bool {
    let mut all: Vec<&str> = vec![keys.prefix_generation(), keys.scope_generation()];
    all.extend(keys.tag_generations().iter().map(String::as_str));
    let read = inner.guarded(keys.entry(), inner.backend.mget(&all)).await;
    let values = match read {
        Ok(values) => values,
        Err(error) => {
            inner.count_failure(counters, "read", &error);
            return false;
        }
    };
    let wanted = [&expected.prefix, &expected.scope]
        .into_iter()
        .chain(&expected.tags);
    values.len() == all.len()
        && values
            .iter()
            .zip(wanted)
            .all(|(value, wanted)| value.as_ref() == Some(wanted))
}

/// Whether an invalidation of this call's prefix or scope is pending here: then the
/// cache is skipped (and a retry made sure of: its task may have died with a runtime).
pub(super) fn blocked(inner: &Inner, prefix: &str, keys: &CallKeys) -> bool {
    let blocked = !inner.pending.is_empty()
        && inner.pending.blocks(&[
            &key::prefix_marker(&inner.namespace, prefix),
            keys.scope_generation(),
        ]);
    if blocked {
        crate::invalidation::spawn_retry(inner);
    }
    blocked
}

/// The generations to fill under, creating missing ones. This happens before the load
/// starts: an invalidation during the load then removes a generation the fill
/// records, and the filled entry is never served.
pub(super) async fn resolve_generations(
    inner: &Inner,
    keys: &CallKeys,
    prefix: Option<Bytes>,
    scope: Option<Bytes>,
    tags: Vec<Option<Bytes>>,
    counters: &Counters,
) -> Option<Generations> {
    let prefix = match prefix {
        Some(generation) => generation,
        None => create_generation(inner, keys.prefix_generation(), counters).await?,
    };
    let scope = match scope {
        Some(generation) => generation,
        None => create_generation(inner, keys.scope_generation(), counters).await?,
    };
    let mut resolved = Vec::with_capacity(tags.len());
    for (generation, key) in tags.into_iter().zip(keys.tag_generations()) {
        resolved.push(match generation {
            Some(generation) => generation,
            None => create_generation(inner, key, counters).await?,
        });
    }
    Some(Generations {
        prefix,
        scope,
        tags: resolved,
    })
}

/// Creates a missing generation key with a fresh token (`SET NX GET`), or returns the
/// one another caller created first. A missing key is never read as an old value.
pub(super) async fn create_generation(
    inner: &Inner,
    key: &str,
    counters: &Counters,
) -> Option<Bytes> {
    let token = generation::fresh();
    match inner
        .guarded(
            key,
            inner.backend.set_nx_get(key, &token, inner.generation_ttl),
        )
        .await
    {
        Ok(Some(existing)) => Some(existing),
        Ok(None) => Some(Bytes::from(token)),
        Err(error) => {
            inner.count_failure(counters, "generation", &error);
            None
        }
    }
}
