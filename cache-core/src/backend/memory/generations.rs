//! The memory store's small keys, apart from its bounded entries: the generations (and
//! fences and refresh claims, every key written only if absent). A hit reads two or more
//! of them beside its entry; here they are one map read under one lock, where each was a
//! lookup of the bounded cache (its clock, its access log, its eviction bookkeeping).

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// What one kept key costs beside its key and value bytes (the map's slot, the `Bytes`
/// and `String` headers): counted against the budget.
const OVERHEAD: usize = 64;

/// Small keys with their TTLs, within a byte budget. A key dropped to keep the budget is
/// a generation lost: the next read of its scope starts a new one, and the entries filled
/// under the old one no longer match it (misses, never stale values).
pub(super) struct Generations {
    map: RwLock<Kept>,
    budget: usize,
}

#[derive(Default)]
struct Kept {
    keys: HashMap<String, (Bytes, Instant)>,
    bytes: usize,
    /// The number of keys after the last sweep of expired ones: the next runs at twice it.
    swept_at: usize,
}

/// The keys as one read sees them, expired ones absent.
pub(super) struct Read<'a> {
    kept: RwLockReadGuard<'a, Kept>,
    now: Instant,
}

impl Read<'_> {
    /// The value of `key`, if kept and not expired.
    pub(super) fn get(&self, key: &str) -> Option<&Bytes> {
        match self.kept.keys.get(key) {
            Some((value, expires)) if *expires > self.now => Some(value),
            _ => None,
        }
    }

    /// What remains of `key`'s TTL, if kept and not expired.
    pub(super) fn ttl(&self, key: &str) -> Option<Duration> {
        match self.kept.keys.get(key) {
            Some((_, expires)) if *expires > self.now => Some(*expires - self.now),
            _ => None,
        }
    }
}

impl Generations {
    /// Kept within about `budget` bytes.
    pub(super) fn new(budget: usize) -> Self {
        Self {
            map: RwLock::default(),
            budget: budget.max(64 * 1024),
        }
    }

    pub(super) fn read(&self) -> Read<'_> {
        // Nothing is left half-done under this lock: a poisoned one is still sound.
        Read {
            kept: self.map.read().unwrap_or_else(PoisonError::into_inner),
            now: Instant::now(),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, Kept> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `value` under `key` for `ttl`, replacing what was there.
    pub(super) fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        let now = Instant::now();
        let mut kept = self.write();
        let cost = key.len() + value.len() + OVERHEAD;
        if let Some((old, _)) = kept.keys.insert(key.to_owned(), (value, now + ttl)) {
            kept.bytes -= key.len() + old.len() + OVERHEAD;
        }
        kept.bytes += cost;
        if kept.keys.len() > 2 * kept.swept_at.max(512) || kept.bytes > self.budget {
            kept.sweep(now, self.budget);
        }
    }

    /// Removes `key`; whether it was there (expired or not).
    pub(super) fn remove(&self, key: &str) -> bool {
        let mut kept = self.write();
        match kept.keys.remove(key) {
            Some((old, _)) => {
                kept.bytes -= key.len() + old.len() + OVERHEAD;
                true
            }
            None => false,
        }
    }

    /// The keys not expired, each passed to `keep`.
    pub(super) fn keys(&self, mut keep: impl FnMut(&str)) {
        let read = self.read();
        for (key, (_, expires)) in &read.kept.keys {
            if *expires > read.now {
                keep(key);
            }
        }
    }
}

impl Kept {
    /// Drops the expired keys, then, over `budget`, any keys until a quarter under it.
    fn sweep(&mut self, now: Instant, budget: usize) {
        let mut bytes = self.bytes;
        self.keys.retain(|key, (value, expires)| {
            let keep = *expires > now;
            if !keep {
                bytes -= key.len() + value.len() + OVERHEAD;
            }
            keep
        });
        if bytes > budget {
            let target = budget / 4 * 3;
            self.keys.retain(|key, (value, _)| {
                if bytes <= target {
                    return true;
                }
                bytes -= key.len() + value.len() + OVERHEAD;
                false
            });
        }
        self.bytes = bytes;
        self.swept_at = self.keys.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_keys_are_absent_and_swept() {
        let generations = Generations::new(0);
        generations.set("a", Bytes::from_static(b"1"), Duration::ZERO);
        generations.set("b", Bytes::from_static(b"2"), Duration::from_secs(60));
        let read = generations.read();
        assert_eq!(read.get("a"), None);
        assert_eq!(read.get("b").map(|b| &b[..]), Some(&b"2"[..]));
        assert!(
            read.ttl("b")
                .is_some_and(|left| left > Duration::from_secs(59))
        );
        drop(read);
        generations.write().sweep(Instant::now(), usize::MAX);
        assert_eq!(generations.write().keys.len(), 1);
    }

    #[test]
    fn the_budget_holds() {
        let generations = Generations::new(64 * 1024);
        for i in 0..10_000 {
            generations.set(
                &format!("gen:{i}"),
                Bytes::from(vec![0; 29]),
                Duration::from_secs(60),
            );
            assert!(generations.write().bytes <= 64 * 1024 + 128, "at {i}");
        }
        let kept = generations.write();
        let counted: usize = kept
            .keys
            .iter()
            .map(|(k, (v, _))| k.len() + v.len() + OVERHEAD)
            .sum();
        assert_eq!(counted, kept.bytes);
    }

    #[test]
    fn replacing_and_removing_keep_the_count() {
        let generations = Generations::new(0);
        generations.set("a", Bytes::from_static(b"12345"), Duration::from_secs(60));
        generations.set("a", Bytes::from_static(b"1"), Duration::from_secs(60));
        assert_eq!(generations.write().bytes, 1 + 1 + OVERHEAD);
        assert!(generations.remove("a"));
        assert!(!generations.remove("a"));
        assert_eq!(generations.write().bytes, 0);
    }
}
