//! Invalidations that could not reach Redis, kept until a retry lands.
//!
//! While a generation key is pending, this process neither reads nor fills entries that
//! depend on it: it serves those calls from the source. The set holds generation keys,
//! which a read has already computed, so the check costs one atomic load when nothing
//! is pending and a hash lookup otherwise.
//!
//! The set is bounded: past [`LIMIT`] keys, a failed scope invalidation is kept as an
//! invalidation of its whole prefix instead (coarser, never weaker), so a long outage
//! with many tenants written cannot grow it without bound.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many distinct generation keys are kept before scopes fold into their prefix.
pub const LIMIT: usize = 10_000;

/// The generation keys whose invalidation is waiting for Redis.
#[derive(Debug)]
pub struct Pending {
    count: AtomicUsize,
    /// Generation key → the token its invalidation writes (empty for a prefix marker).
    /// A retry writes the same token, so that a retry of an invalidation that did land
    /// (unacknowledged by replicas) does not invalidate the scope once more.
    keys: Mutex<HashMap<String, Bytes>>,
    retrying: AtomicBool,
    limit: usize,
}

impl Default for Pending {
    fn default() -> Self {
        Self::with_limit(LIMIT)
    }
}

impl Pending {
    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A set that folds scopes into prefixes past `limit` keys.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            count: AtomicUsize::new(0),
            keys: Mutex::default(),
            retrying: AtomicBool::new(false),
            limit,
        }
    }

    /// Records a failed invalidation of `generation_key`, which was to write `token`;
    /// past the limit, an invalidation of `prefix_key` (the marker of its whole prefix)
    /// instead. A key already pending keeps its first token.
    pub fn add(&self, generation_key: &str, token: Bytes, prefix_key: impl FnOnce() -> String) {
        let mut keys = self.keys();
        if keys.len() >= self.limit && !keys.contains_key(generation_key) {
            keys.entry(prefix_key()).or_default();
        } else {
            keys.entry(generation_key.to_owned()).or_insert(token);
        }
        self.count.store(keys.len(), Ordering::Release);
    }

    /// Forgets `generation_key` (its invalidation landed).
    pub fn remove(&self, generation_key: &str) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut keys = self.keys();
        keys.remove(generation_key);
        self.count.store(keys.len(), Ordering::Release);
    }

    /// Whether any of these generation keys has an invalidation pending.
    pub fn blocks(&self, generation_keys: &[&str]) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let keys = self.keys();
        generation_keys.iter().any(|key| keys.contains_key(*key))
    }

    /// The pending keys and their tokens, for a retry pass.
    pub fn snapshot(&self) -> Vec<(String, Bytes)> {
        self.keys()
            .iter()
            .map(|(key, token)| (key.clone(), token.clone()))
            .collect()
    }

    /// Whether no invalidation is pending (one atomic load).
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// How many invalidations are pending.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Claims the right to run the retry task; false if one runs already.
    pub fn start_retrying(&self) -> bool {
        !self.retrying.swap(true, Ordering::AcqRel)
    }

    /// Releases the retry task's claim. Returns true when keys were added meanwhile and the
    /// caller should keep going (it then holds the claim again).
    pub fn stop_retrying(&self) -> bool {
        self.retrying.store(false, Ordering::Release);
        self.count() > 0 && self.start_retrying()
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;
    use bytes::Bytes;

    #[test]
    fn blocks_only_what_is_pending() {
        let pending = Pending::default();
        assert!(!pending.blocks(&["a", "b"]));
        pending.add("b", Bytes::from("t1"), || unreachable!("under the limit"));
        pending.add("b", Bytes::from("t2"), || unreachable!("under the limit"));
        assert_eq!(pending.snapshot(), [("b".to_owned(), Bytes::from("t1"))]);
        assert!(pending.blocks(&["a", "b"]));
        assert!(!pending.blocks(&["a", "c"]));
        pending.remove("b");
        assert!(!pending.blocks(&["a", "b"]));
        assert_eq!(pending.count(), 0);
    }

    #[test]
    fn past_the_limit_scopes_fold_into_their_prefix() {
        let pending = Pending::with_limit(2);
        pending.add("p:{fmpa:a}", Bytes::new(), || "p:{fmpa:*}".into());
        pending.add("p:{fmpa:b}", Bytes::new(), || "p:{fmpa:*}".into());
        pending.add("p:{fmpa:c}", Bytes::new(), || "p:{fmpa:*}".into());
        pending.add("p:{fmpa:d}", Bytes::new(), || "p:{fmpa:*}".into());
        assert_eq!(pending.count(), 3, "a, b, then the prefix once");
        // A read of scope d checks its prefix generation too: it is blocked.
        assert!(pending.blocks(&["p:{fmpa:*}", "p:{fmpa:d}"]));
    }
}
