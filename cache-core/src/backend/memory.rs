//! The in-process backend: a bounded moka cache with Redis's semantics for the commands
//! this crate uses, so a program runs with no set-up and behaves as it will on Redis.

use super::{WriteThrough, glob};
use bytes::Bytes;
use moka::Expiry;
use moka::sync::Cache as Moka;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Stored {
    bytes: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Stored> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, value: &Stored, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &Stored,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// A bounded in-memory store of bytes with per-key TTLs.
#[derive(Clone)]
pub struct MemoryBackend {
    store: Moka<String, Stored>,
    /// Held by the commands that write generations (creation, removal, write-through),
    /// so that a write-through's compare and store are atomic with respect to them, as
    /// its script is on Redis. Reads and fills do not take it.
    generations: Arc<Mutex<()>>,
}

impl MemoryBackend {
    /// A store holding at most about `capacity_bytes` of keys and values.
    pub fn new(capacity_bytes: u64) -> Self {
        let store = Moka::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &String, value: &Stored| {
                u32::try_from(key.len() + value.bytes.len() + 32).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self {
            store,
            generations: Arc::default(),
        }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.store.get(key).map(|stored| stored.bytes)
    }

    pub fn mget(&self, keys: &[&str]) -> Vec<Option<Bytes>> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    pub fn set(&self, key: &str, bytes: Bytes, ttl: Duration) {
        self.store.insert(key.to_owned(), Stored { bytes, ttl });
    }

    /// `SET key value NX PX ttl GET`: stores unless present; returns what was there.
    pub fn set_nx_get(&self, key: &str, bytes: Bytes, ttl: Duration) -> Option<Bytes> {
        let _generations = self.lock_generations();
        let entry = self
            .store
            .entry(key.to_owned())
            .or_insert_with(|| Stored { bytes, ttl });
        (!entry.is_fresh()).then(|| entry.into_value().bytes)
    }

    pub fn del(&self, keys: &[&str]) -> u64 {
        let _generations = self.lock_generations();
        keys.iter()
            .filter(|key| self.store.remove(**key).is_some())
            .count() as u64
    }

    /// See [`WriteThrough`]: the same steps as the Redis script, under the lock.
    pub fn write_through(&self, op: &WriteThrough<'_>) -> bool {
        let _generations = self.lock_generations();
        let unchanged = op
            .generations
            .iter()
            .zip(op.expected)
            .all(|(key, expected)| self.get(key).as_ref() == Some(expected));
        let Some(own) = op.generations.get(op.own).copied() else {
            return false;
        };
        if !unchanged {
            self.store.remove(own);
            return false;
        }
        let token = Bytes::copy_from_slice(op.token.as_bytes());
        self.set(own, token, op.generation_ttl);
        self.set(op.entry, op.value.clone(), op.ttl);
        true
    }

    fn lock_generations(&self) -> std::sync::MutexGuard<'_, ()> {
        // Nothing is left half-done under this lock: a poisoned one is still sound.
        self.generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn exists(&self, key: &str) -> bool {
        self.store.contains_key(key)
    }

    pub fn delete_pattern(&self, pattern: &str) -> u64 {
        let doomed: Vec<_> = self
            .store
            .iter()
            .filter(|(key, _)| glob::matches(pattern.as_bytes(), key.as_bytes()))
            .map(|(key, _)| key)
            .collect();
        doomed
            .iter()
            .filter(|key| self.store.remove(key.as_str()).is_some())
            .count() as u64
    }
}
