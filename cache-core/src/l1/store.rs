//! The tier's values: decoded, bounded in bytes, each expiring at its own time.

use crate::entry::Generations;
use bytes::Bytes;
use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// What the tier adds to an entry's weight besides its encoded value: the key, the
/// tokens, the bookkeeping.
const ENTRY_OVERHEAD: usize = 160;

/// One value of the tier.
pub(crate) struct LocalEntry {
    value: Box<dyn Any + Send + Sync>,
    /// The tokens it was read under: prefix, scope, then tags.
    pub(super) tokens: Vec<Bytes>,
    expires: Instant,
    /// The view's sequence number (plus one) at which its tokens were last found current:
    /// while the view has not changed since, they still are.
    pub(super) checked: AtomicU64,
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
    pub(super) fn new(max_bytes: u64) -> Local {
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

    /// Drops the values kept under `keys` (entries an indexed removal deleted; other keys
    /// are simply not found).
    pub fn forget<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        for key in keys {
            self.entries.invalidate(key);
        }
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
