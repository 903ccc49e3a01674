//! Where entries live: Redis, or the in-process memory store.
//!
//! Both speak the same few commands with the same semantics (`MGET`, `SET PX`,
//! `SET NX PX GET`, `UNLINK`, `EXISTS`, `SCAN MATCH`), so the cache logic above them is
//! written once.

mod glob;
mod memory;
mod redis;

pub use self::memory::MemoryBackend;
pub use self::redis::RedisBackend;
pub(crate) use self::redis::{
    BackplaneNode, Held, REMOVE_AND_PUBLISH, RedisConfig, ServerInfo, TlsFiles, info_field,
};

use crate::error::CacheError;
use bytes::Bytes;
use std::time::Duration;

/// A message for the backplane ([`crate::l1::backplane`]), published on `channel` by the node
/// that runs the removal it announces, in the same step.
#[derive(Clone, Copy)]
pub(crate) struct Notice<'a> {
    pub channel: &'a str,
    pub message: &'a [u8],
}

/// One write-through ([`crate::write_through`]): store `value` under `entry` and replace the
/// generation `generations[own]` with `token`, only if every generation (and fence) still
/// has its `expected` value; otherwise remove `generations[own]` and store nothing. A
/// stored entry is added to each of `indexes` (a read indexed by its result), as an
/// indexed fill does. Atomic.
pub(crate) struct WriteThrough<'a> {
    pub entry: &'a str,
    pub value: &'a bytes::Bytes,
    pub ttl: Duration,
    pub generations: &'a [&'a str],
    pub expected: &'a [bytes::Bytes],
    pub own: usize,
    pub token: &'a str,
    pub generation_ttl: Duration,
    pub fences: &'a [String],
    pub fence_expected: &'a [bytes::Bytes],
    pub indexes: &'a [String],
    /// Published when the generation is replaced or removed (on Redis: every cache, tier or not).
    pub notice: Option<Notice<'a>>,
}

/// A fill of an entry with dependencies from its result: store `value` under `entry` and
/// add `entry` to each of `indexes`, only if every fence still has its `expected` value
/// (no invalidation of those tags in the scope began since before the load). Atomic.
pub(crate) struct FillIndexed<'a> {
    pub entry: &'a str,
    pub value: &'a bytes::Bytes,
    pub ttl: Duration,
    pub fences: &'a [String],
    pub expected: &'a [bytes::Bytes],
    pub indexes: &'a [String],
}

/// The invalidation of one tag value, in one scope or in each bucket: `keys` in groups of
/// `group` keys, each generations and a fence to remove, then (last) an index: every entry
/// it lists goes, and the index. Each group atomic.
pub(crate) struct RemoveIndexed<'a> {
    pub keys: &'a [&'a str],
    pub group: usize,
    /// Published by each group's script (on Redis: every cache, tier or not).
    pub notice: Option<Notice<'a>>,
}

/// The store behind a [`crate::Cache`].
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Redis(RedisBackend),
    Memory(MemoryBackend),
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryBackend")
    }
}

impl Backend {
    /// Whether failures of this backend are possible (the breaker only guards Redis).
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Redis(_))
    }

    /// Whether this is a Redis Cluster (one breaker per group of slots).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Redis(r) if r.is_cluster())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        match self {
            Self::Redis(r) => r.get(key).await,
            Self::Memory(m) => Ok(m.get(key)),
        }
    }

    pub async fn mget(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>, CacheError> {
        match self {
            Self::Redis(r) => r.mget(keys).await,
            Self::Memory(m) => Ok(m.mget(keys)),
        }
    }

    /// [`Backend::mget`], and what remains of the TTL of `ttl_of` (one of `keys`) in the
    /// same round trip; `None` when unknown (the memory store, which has no tier to tell).
    pub async fn mget_ttl(
        &self,
        keys: &[&str],
        ttl_of: &str,
    ) -> Result<(Vec<Option<Bytes>>, Option<Duration>), CacheError> {
        match self {
            Self::Redis(r) => r.mget_ttl(keys, ttl_of).await,
            Self::Memory(m) => Ok(m.mget_ttl(keys, ttl_of)),
        }
    }

    /// A hit's read: [`Backend::mget`] of `keys` (all in `entry`'s slot), with what remains
    /// of `entry`'s TTL when `ttl` (`None` when unknown). On Redis, hits issued while
    /// another is in flight share one read (`CacheBuilder::coalesce_hits`).
    pub async fn read_hit(
        &self,
        keys: &[&str],
        entry: &str,
        ttl: bool,
    ) -> Result<(Vec<Option<Bytes>>, Option<Duration>), CacheError> {
        match self {
            Self::Redis(r) => r.read_hit(keys, entry, ttl).await,
            Self::Memory(m) if ttl => Ok(m.mget_ttl(keys, entry)),
            Self::Memory(m) => Ok((m.mget(keys), None)),
        }
    }

    /// [`Backend::mget`], and what remains of the TTL of each of `ttls_of` in the same
    /// round trip (a batch read; every key in one slot). `None` when unknown.
    pub async fn mget_ttls(
        &self,
        keys: &[&str],
        ttls_of: &[&str],
    ) -> Result<(Vec<Option<Bytes>>, Vec<Option<Duration>>), CacheError> {
        match self {
            Self::Redis(r) => r.mget_ttls(keys, ttls_of).await,
            Self::Memory(m) => Ok((m.mget(keys), ttls_of.iter().map(|key| m.ttl(key)).collect())),
        }
    }

    /// Stores each entry for its TTL, in one round trip (a batch's fills; one slot).
    pub async fn set_many(&self, entries: &[(String, Bytes, Duration)]) -> Result<(), CacheError> {
        match self {
            Self::Redis(r) => r.set_many(entries).await,
            Self::Memory(m) => {
                for (key, value, ttl) in entries {
                    m.set(key, value.clone(), *ttl);
                }
                Ok(())
            }
        }
    }

    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        match self {
            Self::Redis(r) => r.set(key, &value, ttl).await,
            Self::Memory(m) => {
                m.set(key, value, ttl);
                Ok(())
            }
        }
    }

    pub async fn set_nx_get(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<Bytes>, CacheError> {
        match self {
            Self::Redis(r) => r.set_nx_get(key, value.as_bytes(), ttl).await,
            Self::Memory(m) => Ok(m.set_nx_get(key, Bytes::copy_from_slice(value.as_bytes()), ttl)),
        }
    }

    /// Removes generation keys: like [`Backend::del`], then, when the cache asks for
    /// replica acknowledgements, waits for them on the same connection.
    pub async fn remove_generations(&self, keys: &[&str]) -> Result<(), CacheError> {
        match self {
            Self::Redis(r) => r.remove_generations(keys).await,
            Self::Memory(m) => {
                m.del(keys);
                Ok(())
            }
        }
    }

    /// [`Backend::remove_generations`], with `notice` published in the same step.
    pub async fn remove_and_publish(
        &self,
        keys: &[&str],
        notice: &Notice<'_>,
    ) -> Result<(), CacheError> {
        match self {
            Self::Redis(r) => r.remove_and_publish(keys, notice).await,
            Self::Memory(m) => {
                m.del(keys);
                Ok(())
            }
        }
    }

    /// See [`WriteThrough`]; whether the entry was stored.
    pub async fn write_through(&self, op: &WriteThrough<'_>) -> Result<bool, CacheError> {
        match self {
            Self::Redis(r) => r.write_through(op).await,
            Self::Memory(m) => Ok(m.write_through(op)),
        }
    }

    /// See [`FillIndexed`]; whether the entry was stored.
    pub async fn fill_indexed(&self, op: &FillIndexed<'_>) -> Result<bool, CacheError> {
        match self {
            Self::Redis(r) => r.fill_indexed(op).await,
            Self::Memory(m) => Ok(m.fill_indexed(op)),
        }
    }

    /// See [`RemoveIndexed`].
    /// Returns the entries removed (the Redis backend's; the memory store has no tier to
    /// tell).
    pub async fn remove_indexed(&self, op: &RemoveIndexed<'_>) -> Result<Vec<String>, CacheError> {
        match self {
            Self::Redis(r) => r.remove_indexed(op).await,
            Self::Memory(m) => {
                m.remove_indexed(op);
                Ok(Vec::new())
            }
        }
    }

    pub async fn del(&self, keys: &[&str]) -> Result<u64, CacheError> {
        match self {
            Self::Redis(r) => r.del(keys).await,
            Self::Memory(m) => Ok(m.del(keys)),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        match self {
            Self::Redis(r) => r.exists(key).await,
            Self::Memory(m) => Ok(m.exists(key)),
        }
    }

    /// The keys matching `pattern`, a Redis glob (tests and tools; never on a hot path).
    pub async fn keys(&self, pattern: &str) -> Result<Vec<String>, CacheError> {
        match self {
            Self::Redis(r) => r.keys(pattern).await,
            Self::Memory(m) => Ok(m.keys(pattern)),
        }
    }

    pub async fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        match self {
            Self::Redis(r) => r.delete_pattern(pattern).await,
            Self::Memory(m) => Ok(m.delete_pattern(pattern)),
        }
    }
}
