//! One entry read back for an operator: its envelope, whether its generations are
//! current, its value.

use crate::backend::RedisBackend;
use crate::entry::{self, Entry, Generations};
use crate::error::CacheError;
use crate::key::{self, ParsedKey};
use crate::sensitive::Naming;
use serde::Serialize;
use std::collections::HashSet;

/// Whether an entry can still be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Every generation it was filled under is current: a read serves it.
    Current,
    /// A generation it was filled under is gone (invalidated): a read ignores it, and
    /// the next fill overwrites it; Redis drops it at its TTL.
    Dead,
    /// Its envelope does not parse (another version, or written by something else).
    Unreadable,
}

/// One generation an entry was filled under, beside the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenerationReport {
    /// The token the entry holds.
    pub entry: String,
    /// Whether it is still current.
    pub current: bool,
}

/// An entry of a `#[cached]` call, read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EntryReport {
    /// The key in Redis.
    pub key: String,
    /// The call it holds: prefix, bucket, scope, name, version, arguments.
    pub call: ParsedKey,
    /// Its size in bytes, envelope included.
    pub size: usize,
    /// What remains of its TTL in milliseconds (fail-safe grace included).
    pub ttl_ms: Option<u64>,
    /// Whether a read serves it.
    pub state: EntryState,
    /// How long it is kept past its TTL for fail-safe reads, in milliseconds.
    pub grace_ms: u64,
    /// The codec of its payload (`json`, `messagepack`).
    pub codec: Option<String>,
    /// Whether its payload is sealed (a sensitive prefix's).
    pub sealed: bool,
    /// The generations it was filled under: the prefix's (its bucket's copy), the
    /// scope's, then each tag's.
    pub generations: Vec<GenerationReport>,
    /// Its value, when asked for and readable (a sealed one only with the keys).
    pub value: Option<serde_json::Value>,
    /// Why the value is not shown, when it is not.
    pub note: Option<String>,
    /// The tag tokens it holds (to match a tag filter).
    #[serde(skip)]
    pub(crate) tag_tokens: Vec<Vec<u8>>,
}

/// Reads the entry `key` (`parsed`) with its generations, in one round trip; its value
/// with `with_value`. `tags` are the current tokens of its bucket's tag generations.
pub(super) async fn entry(
    inner: &crate::inner::Inner,
    redis: &RedisBackend,
    key: String,
    parsed: ParsedKey,
    tags: &HashSet<Vec<u8>>,
    with_value: bool,
) -> Result<Option<EntryReport>, CacheError> {
    let prefix_key = key::bucket_key(&inner.namespace, &parsed.prefix, parsed.bucket);
    let scope_key = format!("{prefix_key}:{}", parsed.scope_encoded());
    let (values, ttl) = redis
        .mget_ttl(&[key.as_str(), &prefix_key, &scope_key], &key)
        .await?;
    let mut values = values.into_iter();
    let (Some(Some(raw)), Some(prefix), Some(scope)) =
        (values.next(), values.next(), values.next())
    else {
        return Ok(None);
    };
    let sealed = parsed.is_sensitive() || inner.sensitive.covers(&parsed.prefix);
    let mut report = EntryReport {
        key,
        call: parsed,
        size: raw.len(),
        ttl_ms: ttl.map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
        state: EntryState::Unreadable,
        grace_ms: 0,
        codec: None,
        sealed,
        generations: Vec::new(),
        value: None,
        note: None,
        tag_tokens: Vec::new(),
    };
    let decoded = match entry::decode(&raw) {
        Ok(decoded) => decoded,
        Err(error) => {
            report.note = Some(error.to_string());
            return Ok(Some(report));
        }
    };
    let text = |token: &[u8]| String::from_utf8_lossy(token).into_owned();
    let same = |current: &Option<bytes::Bytes>, held: &[u8]| current.as_deref() == Some(held);
    report.generations.push(GenerationReport {
        entry: text(decoded.prefix_generation),
        current: same(&prefix, decoded.prefix_generation),
    });
    report.generations.push(GenerationReport {
        entry: text(decoded.scope_generation),
        current: same(&scope, decoded.scope_generation),
    });
    for token in decoded.tag_tokens() {
        report.generations.push(GenerationReport {
            entry: text(token),
            current: tags.contains(token),
        });
        report.tag_tokens.push(token.to_vec());
    }
    report.state = match report.generations.iter().all(|g| g.current) {
        true => EntryState::Current,
        false => EntryState::Dead,
    };
    report.grace_ms = u64::try_from(decoded.grace.as_millis()).unwrap_or(u64::MAX);
    report.codec = Some(format!("{:?}", decoded.codec).to_lowercase());
    if with_value {
        match value(inner, &report, &decoded) {
            Ok(value) => report.value = Some(value),
            Err(note) => report.note = Some(note),
        }
    }
    Ok(Some(report))
}

/// The value of `decoded`, or why it cannot be shown.
fn value(
    inner: &crate::inner::Inner,
    report: &EntryReport,
    decoded: &Entry<'_>,
) -> Result<serde_json::Value, String> {
    let opened;
    let payload = match report.sealed {
        false => decoded.payload,
        true => {
            let Naming::Hashed(keyring) = inner.sensitive.naming(&report.call.prefix) else {
                return Err(String::from(
                    "sealed: its prefix is not declared sensitive here with keys (CACHE_ENCRYPTION_KEYS, CACHE_SENSITIVE_PREFIXES)",
                ));
            };
            let generations = Generations {
                prefix: bytes::Bytes::copy_from_slice(decoded.prefix_generation),
                scope: bytes::Bytes::copy_from_slice(decoded.scope_generation),
                tags: decoded
                    .tag_tokens()
                    .into_iter()
                    .map(bytes::Bytes::copy_from_slice)
                    .collect(),
            };
            opened = keyring
                .open(&report.key, &generations, decoded.payload)
                .map_err(|error| format!("sealed, and not opened: {error}"))?;
            &opened
        }
    };
    decoded
        .codec
        .decode_value::<serde_json::Value>(payload)
        .map_err(|error| format!("the payload does not decode: {error}"))
}
