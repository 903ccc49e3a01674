//! The tier's view: the generation tokens this process knows to be current, and whether
//! it knows it now (a heartbeat came back less than δ ago).

use super::LocalEntry;
use crate::entry::Generations;
use crate::key::CallKeys;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most generation keys the view holds; past it, it starts again empty (values are
/// then read from Redis once more, which teaches it their tokens again).
const VIEW_LIMIT: usize = 200_000;

/// The generation tokens this process knows to be current, and whether it knows it now.
pub(crate) struct View {
    tokens: RwLock<HashMap<String, Bytes>>,
    /// Bumped, under the write lock, by every change that can make a known token stale.
    seq: AtomicU64,
    /// Nanoseconds since `epoch` until which the view is known current; 0: it is not.
    fresh_until: AtomicU64,
    epoch: Instant,
    bound: Duration,
    /// Invalidation notices applied from the backplane.
    pub notices: AtomicU64,
}

impl View {
    pub(super) fn new(bound: Duration) -> View {
        View {
            tokens: RwLock::new(HashMap::new()),
            seq: AtomicU64::new(0),
            fresh_until: AtomicU64::new(0),
            epoch: Instant::now(),
            bound,
            notices: AtomicU64::new(0),
        }
    }

    /// The staleness bound δ.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// Nanoseconds since this view's epoch: the clock of heartbeats.
    pub fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether a heartbeat sent less than δ ago came back.
    pub fn is_fresh(&self) -> bool {
        self.now() < self.fresh_until.load(Ordering::Acquire)
    }

    /// The view is known current until δ after `sent` (the oldest of the last heartbeats
    /// of every node, on the clock of [`View::now`]).
    pub fn fresh_since(&self, sent: u64) {
        let until = sent.saturating_add(u64::try_from(self.bound.as_nanos()).unwrap_or(u64::MAX));
        self.fresh_until.store(until, Ordering::Release);
    }

    /// Where a read starts: what [`View::learn`] checks.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Whether `entry`, under `keys`, has the tokens the view knows to be current.
    pub fn validates(&self, keys: &CallKeys, entry: &LocalEntry) -> bool {
        let seq = self.seq();
        if entry.checked.load(Ordering::Acquire) == seq + 1 {
            return true;
        }
        let tokens = match self.tokens.read() {
            Ok(tokens) => tokens,
            Err(_) => return false,
        };
        let current = entry.tokens.len() == 2 + keys.tag_generations().len()
            && generation_keys(keys)
                .zip(&entry.tokens)
                .all(|(key, token)| tokens.get(key) == Some(token));
        if current {
            // Read under the lock: no change can have come in between.
            entry
                .checked
                .store(self.seq.load(Ordering::Acquire) + 1, Ordering::Release);
        }
        current
    }

    /// Records the tokens of `keys` read from Redis by a read that began at `since`;
    /// refused (false) if the view changed since, when the read may have raced an
    /// invalidation.
    pub fn learn(&self, since: u64, keys: &CallKeys, generations: &Generations) -> bool {
        let Ok(mut tokens) = self.tokens.write() else {
            return false;
        };
        if self.seq.load(Ordering::Acquire) != since {
            return false;
        }
        if tokens.len() >= VIEW_LIMIT {
            tokens.clear();
            self.seq.fetch_add(1, Ordering::AcqRel);
            return false;
        }
        let read = [&generations.prefix, &generations.scope]
            .into_iter()
            .chain(&generations.tags);
        let mut replaced = false;
        for (key, token) in generation_keys(keys).zip(read) {
            match tokens.get_mut(key) {
                Some(known) if known == token => {}
                Some(known) => {
                    // A newer token whose invalidation's message is still on its way:
                    // values checked under the old one are checked again.
                    *known = token.clone();
                    replaced = true;
                }
                None => {
                    tokens.insert(key.to_owned(), token.clone());
                }
            }
        }
        if replaced {
            self.seq.fetch_add(1, Ordering::AcqRel);
        }
        true
    }

    /// Drops what the view knows of `keys` (an invalidation removed them).
    pub fn forget<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            tokens.remove(key);
        }
        self.seq.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops everything the view knows.
    pub fn forget_all(&self) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.clear();
        self.seq.fetch_add(1, Ordering::AcqRel);
    }

    /// The subscription is lost (or starts): nothing is known current any more.
    pub fn lost(&self) {
        self.fresh_until.store(0, Ordering::Release);
        self.forget_all();
    }
}

/// The generation keys of a call, in the order of its tokens.
fn generation_keys(keys: &CallKeys) -> impl Iterator<Item = &str> {
    [keys.prefix_generation(), keys.scope_generation()]
        .into_iter()
        .chain(keys.tag_generations().iter().map(String::as_str))
}
