//! The in-process tier (`l1`): decoded values kept in this process, served only while
//! they are known to be current.
//!
//! Each value keeps the generation tokens it was read (or filled) under. The [`View`]
//! maps generation keys to the tokens this process knows to be current; the backplane
//! ([`crate::backplane`]) keeps it so: every invalidation is published with the keys it
//! removed, atomically with the removal, and each process drops those keys from its view
//! when the message arrives. A value is served when its tokens are those of the view and
//! the view is *fresh*: a heartbeat this process published came back less than the bound
//! δ ago. Messages on one server are delivered in the order they were published, so
//! everything published before that heartbeat has been applied: an invalidation that
//! returned more than δ ago has reached the view. Otherwise reads go to Redis as without
//! the tier.
//!
//! The view learns tokens from reads of Redis, and only from reads during which no
//! message was applied (a sequence number, bumped by every change that can make a token
//! stale): a read that raced an invalidation could otherwise bring back a token the
//! message had just dropped. After a lost subscription the view is emptied; tokens never
//! repeat, so nothing stale revives.

use crate::entry::Generations;
use crate::key::CallKeys;
use bytes::Bytes;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The most generation keys the view holds; past it, it starts again empty (values are
/// then read from Redis once more, which teaches it their tokens again).
const VIEW_LIMIT: usize = 200_000;

/// What the tier adds to an entry's weight besides its encoded value: the key, the
/// tokens, the bookkeeping.
const ENTRY_OVERHEAD: usize = 160;

/// The tier of one cache: its values and its view.
pub(crate) struct Tier {
    pub local: Local,
    pub view: View,
    /// This tier's name on the backplane (its heartbeats): unique across processes.
    pub uid: String,
    /// How long a subscription may take to connect.
    pub connect_timeout: Duration,
}

impl Tier {
    pub fn new(max_bytes: u64, bound: Duration, connect_timeout: Duration) -> Tier {
        Tier {
            local: Local::new(max_bytes),
            view: View::new(bound),
            uid: crate::generation::fresh(),
            connect_timeout,
        }
    }
}

/// The state of a cache's in-process tier, from [`crate::Cache::l1_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct L1Stats {
    /// Values held.
    pub entries: u64,
    /// Their weight in bytes (encoded size, key and overhead), at most the tier's bound.
    pub bytes: u64,
    /// Invalidation notices received from the backplane (this cache's own included).
    pub notices: u64,
    /// Whether the view is known current now: the backplane's subscription is up and a
    /// heartbeat came back less than δ ago. While it is not, `l1` reads go to Redis.
    pub fresh: bool,
}

impl Tier {
    /// Its state now.
    pub fn stats(&self) -> L1Stats {
        L1Stats {
            entries: self.local.len(),
            bytes: self.local.weighted_size(),
            notices: self.view.notices.load(Ordering::Relaxed),
            fresh: self.view.is_fresh(),
        }
    }
}

/// One value of the tier.
pub(crate) struct LocalEntry {
    value: Box<dyn Any + Send + Sync>,
    /// The tokens it was read under: prefix, scope, then tags.
    tokens: Vec<Bytes>,
    expires: Instant,
    /// The view's sequence number (plus one) at which its tokens were last found current:
    /// while the view has not changed since, they still are.
    checked: AtomicU64,
    weight: u32,
}

/// The values, bounded in bytes (a weigher: the encoded size of the value, its key and an
/// overhead), each expiring after its site's `l1` time.
pub(crate) struct Local {
    entries: moka::sync::Cache<String, Arc<LocalEntry>>,
}

/// Expiry of each value at its own time.
struct ByEntry;

impl moka::Expiry<String, Arc<LocalEntry>> for ByEntry {
    fn expire_after_create(
        &self,
        _: &String,
        entry: &Arc<LocalEntry>,
        now: Instant,
    ) -> Option<Duration> {
        Some(entry.expires.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        key: &String,
        entry: &Arc<LocalEntry>,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, entry, now)
    }
}

impl Local {
    fn new(max_bytes: u64) -> Local {
        Local {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, entry: &Arc<LocalEntry>| entry.weight)
                .expire_after(ByEntry)
                .build(),
        }
    }

    /// The entry kept under `key`, if it has not expired (moka checks expiry).
    pub fn entry(&self, key: &str) -> Option<Arc<LocalEntry>> {
        self.entries.get(key)
    }

    /// Keeps `value` (read or filled under `generations`) until `expires`; `encoded` is
    /// the size of its encoded form, its weight.
    pub fn keep(
        &self,
        key: &str,
        value: Box<dyn Any + Send + Sync>,
        generations: &Generations,
        encoded: usize,
        expires: Instant,
    ) {
        let mut tokens = Vec::with_capacity(2 + generations.tags.len());
        tokens.push(generations.prefix.clone());
        tokens.push(generations.scope.clone());
        tokens.extend(generations.tags.iter().cloned());
        let weight =
            encoded + key.len() + ENTRY_OVERHEAD + tokens.iter().map(Bytes::len).sum::<usize>();
        let entry = LocalEntry {
            value,
            tokens,
            expires,
            checked: AtomicU64::new(0),
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
        };
        self.entries.insert(key.to_owned(), Arc::new(entry));
    }

    /// The bytes the tier holds now, by its weigher (after pending evictions).
    pub fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    /// How many values the tier holds now.
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

impl LocalEntry {
    /// The value kept.
    pub fn value(&self) -> &(dyn Any + Send + Sync) {
        &*self.value
    }
}

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
    fn new(bound: Duration) -> View {
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
