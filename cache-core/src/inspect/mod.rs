//! What an operator sees of a cache on Redis: its entries read back as calls
//! ([`crate::key::parse`]), their size and TTL, whether each is still current (the
//! generations it was filled under still exist), and one entry's value. The `cache`
//! command line's `keys` and `get` are these functions; nothing here writes.

mod doctor;
mod report;

pub use self::doctor::{Check, Doctor, Level};
pub use self::report::{EntryReport, EntryState, GenerationReport};

use crate::backend::{Backend, RedisBackend};
use crate::error::CacheError;
use crate::key::{self, KeyKind, ParsedKey};
use crate::sensitive::Naming;
use std::collections::{BTreeMap, HashSet};

/// Which entries of a prefix [`crate::Cache::entries`] lists.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EntryFilter {
    /// Only this scope's (`key = ...`'s value, as a string: `tenant-1`).
    pub scope: Option<String>,
    /// Only entries that depend on this tag value (a declared tag, or a tag read from
    /// the result): its name and its value as text (`item`, `42`).
    pub tag: Option<(String, String)>,
}

impl EntryFilter {
    /// Every entry of the prefix.
    pub fn new() -> EntryFilter {
        EntryFilter::default()
    }

    /// Only `scope`'s entries.
    pub fn scope(mut self, scope: impl Into<String>) -> EntryFilter {
        self.scope = Some(scope.into());
        self
    }

    /// Only the entries that depend on tag `name` = `value`.
    pub fn tag(mut self, name: impl Into<String>, value: impl Into<String>) -> EntryFilter {
        self.tag = Some((name.into(), value.into()));
        self
    }
}

/// The keys of one bucket found by a scan, sorted by kind.
#[derive(Default)]
struct Bucket {
    entries: Vec<(String, ParsedKey)>,
    /// Tag generations: key, tag name, decoded value.
    tags: Vec<(String, String, Option<String>)>,
    /// Indexes of result tags: key, tag name, decoded value.
    indexes: Vec<(String, String, Option<String>)>,
}

/// The entries of `prefix` on `inner`'s Redis that pass `filter`, sorted by key.
pub(crate) async fn entries(
    inner: &crate::inner::Inner,
    prefix: &str,
    filter: &EntryFilter,
) -> Result<Vec<EntryReport>, CacheError> {
    let Backend::Redis(redis) = &inner.backend else {
        return Ok(Vec::new());
    };
    // A scope's keys, and its bucket's (the tags read across scopes are there).
    let (patterns, scope) = match &filter.scope {
        None => {
            let marker = key::prefix_marker(&inner.namespace, prefix);
            (vec![format!("{}*", marker.trim_end_matches("*}"))], None)
        }
        Some(scope) => {
            let scope = scope_component(inner, prefix, scope)?;
            let generation = key::scope_generation_key(&inner.namespace, prefix, &scope);
            let bucket = key::bucket_key(&inner.namespace, prefix, key::bucket(prefix, &scope));
            (
                vec![format!("{generation}*"), format!("{bucket}!*")],
                Some(scope),
            )
        }
    };
    let mut buckets: BTreeMap<u16, Bucket> = BTreeMap::new();
    for pattern in patterns {
        for found in redis.keys(&pattern).await? {
            let Some(parsed) = key::parse(&inner.namespace, &found) else {
                continue;
            };
            if parsed.prefix != prefix {
                continue;
            }
            let bucket = buckets.entry(parsed.bucket).or_default();
            match &parsed.kind {
                // Another scope that begins as this one does is not this one.
                KeyKind::Entry(_)
                    if scope
                        .as_deref()
                        .is_some_and(|s| s != parsed.scope_encoded()) => {}
                KeyKind::Entry(_) => bucket.entries.push((found, parsed)),
                KeyKind::TagGeneration { tag, value } => {
                    let value = value.as_ref().and_then(|value| value.decoded());
                    bucket.tags.push((found, tag.clone(), value));
                }
                KeyKind::Index { tag, value } => {
                    let value = value.decoded();
                    bucket.indexes.push((found, tag.clone(), value));
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for (_, bucket) in buckets {
        if bucket.entries.is_empty() {
            continue;
        }
        let tokens = tag_tokens(redis, &bucket.tags).await?;
        let wanted = match &filter.tag {
            None => None,
            Some((name, value)) => Some(tagged(redis, &bucket, name, value).await?),
        };
        for (entry, parsed) in bucket.entries {
            let report = report::entry(inner, redis, entry, parsed, &tokens.0, false).await?;
            let Some(report) = report else { continue };
            let keep = match &wanted {
                None => true,
                Some((keys, tokens)) => {
                    keys.contains(&report.key)
                        || report.tag_tokens.iter().any(|token| tokens.contains(token))
                }
            };
            if keep {
                out.push(report);
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// One entry, its value included (opened when sealed, if this cache holds the keys);
/// `None` when `key` is not an entry of this cache's format and namespace, or is gone.
pub(crate) async fn entry(
    inner: &crate::inner::Inner,
    key: &str,
) -> Result<Option<EntryReport>, CacheError> {
    let Backend::Redis(redis) = &inner.backend else {
        return Ok(None);
    };
    let Some(parsed) = key::parse(&inner.namespace, key) else {
        return Ok(None);
    };
    if !matches!(parsed.kind, KeyKind::Entry(_)) {
        return Ok(None);
    }
    let base = key::bucket_key(&inner.namespace, &parsed.prefix, parsed.bucket);
    let mut tags = Vec::new();
    for found in redis.keys(&format!("{base}*!*")).await? {
        if let Some(ParsedKey {
            kind: KeyKind::TagGeneration { tag, .. },
            ..
        }) = key::parse(&inner.namespace, &found)
        {
            tags.push((found, tag, None));
        }
    }
    let tokens = tag_tokens(redis, &tags).await?;
    report::entry(inner, redis, key.to_owned(), parsed, &tokens.0, true).await
}

/// [`crate::Cache::doctor`].
pub(crate) async fn doctor(inner: &crate::inner::Inner) -> Doctor {
    let fleet = inner.fleet.as_ref().map(crate::fleet::Fleet::report);
    doctor::examine(inner, fleet).await
}

/// The scope as this cache writes it in `prefix`'s keys: encoded, and for a sensitive
/// prefix hashed with the naming key.
fn scope_component(
    inner: &crate::inner::Inner,
    prefix: &str,
    scope: &str,
) -> Result<String, CacheError> {
    let component = key::component(scope)?;
    match inner.sensitive.naming(prefix) {
        Naming::Plain => Ok(component),
        Naming::Hashed(keyring) => Ok(keyring.hash_component(&component)),
        Naming::Unknown => Err(CacheError::InvalidKeys(format!(
            "the scopes of `{prefix}` are named with a key this process does not hold (set CACHE_ENCRYPTION_KEYS)"
        ))),
    }
}

/// The current tokens of some tag generations.
struct Tokens(HashSet<Vec<u8>>);

async fn tag_tokens(
    redis: &RedisBackend,
    tags: &[(String, String, Option<String>)],
) -> Result<Tokens, CacheError> {
    let mut tokens = HashSet::new();
    // One slot: all keys of a bucket share its hash tag.
    for chunk in tags.chunks(256) {
        let keys: Vec<&str> = chunk.iter().map(|(key, _, _)| key.as_str()).collect();
        tokens.extend(
            redis
                .mget(&keys)
                .await?
                .into_iter()
                .flatten()
                .map(|token| token.to_vec()),
        );
    }
    Ok(Tokens(tokens))
}

/// Whether a decoded tag value is `value` as typed (`42` matches the number `~42` too).
fn same_value(decoded: Option<&str>, value: &str) -> bool {
    decoded.is_some_and(|decoded| decoded == value || decoded.strip_prefix('~') == Some(value))
}

/// The entries of `bucket` that depend on tag `name` = `value`: those its indexes list,
/// and the tokens of its generations (an entry holding one depends on it).
async fn tagged(
    redis: &RedisBackend,
    bucket: &Bucket,
    name: &str,
    value: &str,
) -> Result<(HashSet<String>, HashSet<Vec<u8>>), CacheError> {
    let mut keys = HashSet::new();
    for (index, tag, found) in &bucket.indexes {
        if tag == name && same_value(found.as_deref(), value) {
            keys.extend(redis.members(index).await?);
        }
    }
    let generations: Vec<_> = bucket
        .tags
        .iter()
        .filter(|(_, tag, found)| tag == name && same_value(found.as_deref(), value))
        .cloned()
        .collect();
    Ok((keys, tag_tokens(redis, &generations).await?.0))
}
