//! The in-process backend: a bounded moka cache with Redis's semantics for the commands
//! this crate uses, so a program runs with no set-up and behaves as it will on Redis.
//!
//! Entries live in moka; the small keys written only if absent (generations, fences,
//! refresh claims) live in [`generations`], so that a hit's generations are one map read.
//! A key is in one of the two: plain `SET`s go to moka, `SET NX` and a write-through's
//! new generation to the small keys, and each removes the key from the other.

mod generations;

use self::generations::Generations;
use super::{FillIndexed, RemoveIndexed, WriteThrough, glob};
use bytes::Bytes;
use moka::Expiry;
use moka::sync::Cache as Moka;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Stored {
    bytes: Bytes,
    ttl: Duration,
    /// When it expires (what `PTTL` reads on Redis).
    expires: Instant,
}

impl Stored {
    fn new(bytes: Bytes, ttl: Duration) -> Stored {
        Stored {
            bytes,
            ttl,
            expires: Instant::now() + ttl,
        }
    }
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
    /// Generations, fences and refresh claims: see the module's docs.
    generations: Arc<Generations>,
    /// Held by the commands that write generations (creation, removal, write-through,
    /// indexed fills), so that a compare and its store are atomic with respect to them,
    /// as their scripts are on Redis. Reads and plain fills do not take it. It also holds
    /// the indexes of dependencies from the result, kept apart from the bounded store:
    /// an index evicted before its entries would leave them uninvalidated.
    writes: Arc<Mutex<Indexes>>,
}

/// Index key → the entry keys it lists, until when.
#[derive(Default)]
struct Indexes {
    sets: HashMap<String, (HashSet<String>, Instant)>,
    /// The size after the last sweep of expired indexes: the next one runs at twice it.
    swept_at: usize,
}

impl Indexes {
    /// Lists `entry` in each of `indexes`, which then live at least `ttl`; sweeps the
    /// expired indexes now and then.
    fn list(&mut self, entry: &str, indexes: &[String], ttl: Duration) {
        let now = Instant::now();
        let until = now + ttl;
        for index in indexes {
            let (entries, expires) = self
                .sets
                .entry(index.clone())
                .or_insert_with(|| (HashSet::new(), until));
            if *expires <= now {
                entries.clear();
            }
            entries.insert(entry.to_owned());
            *expires = (*expires).max(until);
        }
        if self.sets.len() > 2 * self.swept_at.max(512) {
            self.sets.retain(|_, (_, expires)| *expires > now);
            self.swept_at = self.sets.len();
        }
    }
}

impl MemoryBackend {
    /// A store holding at most about `capacity_bytes` of keys and values (entries), and
    /// a quarter of that again for generations (about 100,000 of them in 16 MiB).
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
            generations: Arc::new(Generations::new(
                usize::try_from(capacity_bytes / 4).unwrap_or(usize::MAX),
            )),
            writes: Arc::default(),
        }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.mget(&[key]).pop().flatten()
    }

    pub fn mget(&self, keys: &[&str]) -> Vec<Option<Bytes>> {
        let generations = self.generations.read();
        keys.iter()
            .map(|key| match generations.get(key) {
                Some(value) => Some(value.clone()),
                None => self.store.get(*key).map(|stored| stored.bytes),
            })
            .collect()
    }

    /// The values of `keys`, and how long `ttl_of` has left (`MGET` + `PTTL`).
    pub fn mget_ttl(&self, keys: &[&str], ttl_of: &str) -> (Vec<Option<Bytes>>, Option<Duration>) {
        (self.mget(keys), self.ttl(ttl_of))
    }

    /// What remains of `key`'s TTL (`PTTL`), `None` when it is absent.
    pub fn ttl(&self, key: &str) -> Option<Duration> {
        match self.store.get(key) {
            Some(stored) => Some(stored.expires.saturating_duration_since(Instant::now())),
            None => self.generations.read().ttl(key),
        }
    }

    pub fn set(&self, key: &str, bytes: Bytes, ttl: Duration) {
        self.store.insert(key.to_owned(), Stored::new(bytes, ttl));
        if self.generations.read().get(key).is_some() {
            self.generations.remove(key);
        }
    }

    /// `SET key value NX PX ttl GET`: stores unless present; returns what was there.
    pub fn set_nx_get(&self, key: &str, bytes: Bytes, ttl: Duration) -> Option<Bytes> {
        let _writes = self.lock_writes();
        if let Some(present) = self.get(key) {
            return Some(present);
        }
        self.generations.set(key, bytes, ttl);
        None
    }

    pub fn del(&self, keys: &[&str]) -> u64 {
        let _writes = self.lock_writes();
        keys.iter().filter(|key| self.remove(key)).count() as u64
    }

    /// Removes `key` from wherever it is; whether it was there.
    fn remove(&self, key: &str) -> bool {
        let generation = self.generations.remove(key);
        self.store.remove(key).is_some() || generation
    }

    /// See [`WriteThrough`]: the same steps as the Redis script, under the lock.
    pub fn write_through(&self, op: &WriteThrough<'_>) -> bool {
        let mut indexes = self.lock_writes();
        let unchanged = op
            .generations
            .iter()
            .copied()
            .zip(op.expected)
            .chain(op.fences.iter().map(String::as_str).zip(op.fence_expected))
            .all(|(key, expected)| self.get(key).as_ref() == Some(expected));
        let Some(own) = op.generations.get(op.own).copied() else {
            return false;
        };
        if !unchanged {
            self.remove(own);
            return false;
        }
        self.store.remove(own);
        let token = Bytes::copy_from_slice(op.token.as_bytes());
        self.generations.set(own, token, op.generation_ttl);
        self.set(op.entry, op.value.clone(), op.ttl);
        indexes.list(op.entry, op.indexes, op.ttl);
        true
    }

    /// See [`FillIndexed`]: the same steps as the Redis script, under the lock.
    pub fn fill_indexed(&self, op: &FillIndexed<'_>) -> bool {
        let mut indexes = self.lock_writes();
        let fenced = op
            .fences
            .iter()
            .zip(op.expected)
            .all(|(key, expected)| self.get(key).as_ref() == Some(expected));
        if !fenced {
            return false;
        }
        self.set(op.entry, op.value.clone(), op.ttl);
        indexes.list(op.entry, op.indexes, op.ttl);
        true
    }

    /// See [`RemoveIndexed`], under the lock.
    pub fn remove_indexed(&self, op: &RemoveIndexed<'_>) {
        let mut indexes = self.lock_writes();
        for group in op.keys.chunks(op.group.max(1)) {
            let Some((index, removed)) = group.split_last() else {
                continue;
            };
            for key in removed {
                self.remove(key);
            }
            if let Some((entries, _)) = indexes.sets.remove(*index) {
                for entry in entries {
                    self.remove(&entry);
                }
            }
        }
    }

    fn lock_writes(&self) -> MutexGuard<'_, Indexes> {
        // Nothing is left half-done under this lock: a poisoned one is still sound.
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn exists(&self, key: &str) -> bool {
        self.store.contains_key(key) || self.generations.read().get(key).is_some()
    }

    /// The keys matching `pattern` (a Redis glob).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let matches = |key: &str| glob::matches(pattern.as_bytes(), key.as_bytes());
        let mut keys: Vec<String> = self
            .store
            .iter()
            .filter(|(key, _)| matches(key))
            .map(|(key, _)| key.to_string())
            .collect();
        self.generations.keys(|key| {
            if matches(key) {
                keys.push(key.to_owned());
            }
        });
        keys
    }

    pub fn delete_pattern(&self, pattern: &str) -> u64 {
        let doomed = self.keys(pattern);
        let _writes = self.lock_writes();
        doomed.iter().filter(|key| self.remove(key)).count() as u64
    }
}
