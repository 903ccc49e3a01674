//! Invalidations that have not landed yet, kept until a retry does.
//!
//! While a target is pending, this process neither reads nor fills entries that depend on
//! it: it serves those calls from the source. The table is keyed by the target's pending
//! key (a generation key a read has already computed, or its prefix's marker), so the
//! check costs one atomic load when nothing is pending and a hash lookup otherwise.
//!
//! Each time a target is parked it gets a fresh **ticket**. An attempt notes the ticket it
//! started under ([`Pending::ticket`]) and, once it lands, removes the entry only if that
//! ticket is still the current one ([`Pending::settle`]). An invalidation parked while an
//! attempt was on the wire was needed after that attempt was sent, so it stays.
//!
//! The table is bounded: past [`LIMIT`] keys, a failed scope invalidation is kept as an
//! invalidation of its whole prefix instead (coarser, never weaker), so a long outage
//! with many tenants written cannot grow it without bound.

use crate::target::Target;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// How many distinct targets are kept before scopes fold into their prefix.
pub const LIMIT: usize = 10_000;

/// When a target was parked, compared by [`Pending::settle`].
pub type Ticket = u64;

#[derive(Debug)]
struct Parked {
    target: Target,
    ticket: Ticket,
}

/// The invalidations waiting for Redis.
#[derive(Debug)]
pub struct Pending {
    count: AtomicUsize,
    parked: Mutex<HashMap<String, Parked>>,
    next_ticket: AtomicU64,
    retrying: AtomicBool,
    /// A deletion by pattern whose "forget everything" notice is still to be published.
    forget_all: AtomicBool,
    limit: usize,
}

impl Default for Pending {
    fn default() -> Self {
        Self::with_limit(LIMIT)
    }
}

impl Pending {
    fn parked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Parked>> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A table that folds scopes into prefixes past `limit` keys.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            count: AtomicUsize::new(0),
            parked: Mutex::default(),
            next_ticket: AtomicU64::new(1),
            retrying: AtomicBool::new(false),
            forget_all: AtomicBool::new(false),
            limit,
        }
    }

    /// Keeps `target` (a tag value as its scope or prefix) until an attempt that starts
    /// from now on lands; past the limit, its whole prefix instead.
    pub fn park(&self, target: Target) {
        let target = target.for_pending();
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let mut parked = self.parked();
        let target = if parked.len() >= self.limit && !parked.contains_key(target.pending_key()) {
            target.widened()
        } else {
            target
        };
        parked.insert(target.pending_key().to_owned(), Parked { target, ticket });
        self.count.store(parked.len(), Ordering::Release);
    }

    /// The ticket `key` is parked under, if it is: note it before an attempt starts.
    pub fn ticket(&self, key: &str) -> Option<Ticket> {
        if self.is_empty() {
            return None;
        }
        self.parked().get(key).map(|parked| parked.ticket)
    }

    /// An attempt on `target` that started under `ticket` landed: forgets what is parked
    /// under its key, unless it was parked again since, or it is more than `target`
    /// covers (a scope parked for a failed tag value, when another tag value lands).
    pub fn settle(&self, target: &Target, ticket: Option<Ticket>) {
        let Some(ticket) = ticket else { return };
        let mut parked = self.parked();
        let key = target.pending_key();
        if parked
            .get(key)
            .is_some_and(|parked| parked.ticket == ticket && parked.target == *target)
        {
            parked.remove(key);
        }
        self.count.store(parked.len(), Ordering::Release);
    }

    /// Whether any of these pending keys is parked.
    pub fn blocks(&self, keys: &[&str]) -> bool {
        if self.is_empty() {
            return false;
        }
        let parked = self.parked();
        keys.iter().any(|key| parked.contains_key(*key))
    }

    /// The parked targets and their tickets, for a retry pass.
    pub fn snapshot(&self) -> Vec<(Target, Ticket)> {
        self.parked()
            .values()
            .map(|parked| (parked.target.clone(), parked.ticket))
            .collect()
    }

    /// Whether nothing is parked (one atomic load).
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// How many targets are parked.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// What waits for Redis: the targets parked, and a "forget everything" notice owed.
    pub fn waiting(&self) -> usize {
        self.count() + usize::from(self.forget_all.load(Ordering::Acquire))
    }

    /// Whether nothing waits for the retry task: no target, no notice owed.
    pub fn is_idle(&self) -> bool {
        self.waiting() == 0
    }

    /// A deletion by pattern ran (or may have) and its notice to the tiers was not
    /// published: the retry task publishes it.
    pub fn owe_forget_all(&self) {
        self.forget_all.store(true, Ordering::Release);
    }

    /// Takes the owed "forget everything" notice, if any (the retry task publishes it).
    pub fn take_forget_all(&self) -> bool {
        self.forget_all.swap(false, Ordering::AcqRel)
    }

    /// Claims the right to run the retry task; false if one runs already.
    pub fn start_retrying(&self) -> bool {
        !self.retrying.swap(true, Ordering::AcqRel)
    }

    /// Releases the retry task's claim. Returns true when targets were parked meanwhile
    /// and the caller should keep going (it then holds the claim again).
    pub fn stop_retrying(&self) -> bool {
        self.retrying.store(false, Ordering::Release);
        !self.is_idle() && self.start_retrying()
    }

    /// Releases the claim of a retry task that is gone (its runtime shut down), so that
    /// the next invalidation or blocked read starts another.
    pub fn abandon_retrying(&self) {
        self.retrying.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;
    use crate::target::Target;

    fn scope(name: &str) -> Target {
        Target::scope("ns", "fmpa", name)
    }

    #[test]
    fn blocks_only_what_is_parked() {
        let pending = Pending::default();
        let b = scope("b");
        assert!(!pending.blocks(&["a", b.pending_key()]));
        pending.park(b.clone());
        assert!(pending.blocks(&["a", b.pending_key()]));
        assert!(!pending.blocks(&["a", "c"]));
        let ticket = pending.ticket(b.pending_key());
        pending.settle(&b, ticket);
        assert!(!pending.blocks(&[b.pending_key()]));
        assert_eq!(pending.count(), 0);
    }

    #[test]
    fn an_attempt_settles_only_what_it_started_under() {
        let pending = Pending::default();
        let b = scope("b");
        // Nothing parked when the attempt started: it removes nothing parked meanwhile.
        let before = pending.ticket(b.pending_key());
        pending.park(b.clone());
        pending.settle(&b, before);
        assert_eq!(pending.count(), 1);
        // Parked again while a retry was on the wire: the retry's success keeps it.
        let retry = pending.ticket(b.pending_key());
        pending.park(b.clone());
        pending.settle(&b, retry);
        assert_eq!(pending.count(), 1);
        let next = pending.ticket(b.pending_key());
        pending.settle(&b, next);
        assert_eq!(pending.count(), 0);
    }

    #[test]
    fn a_tag_that_lands_never_settles_the_scope_parked_for_another() {
        let pending = Pending::default();
        let mut parts = crate::key::KeyParts::new();
        parts.scope("b").tag("item", &1);
        let one = Target::of_parts("ns", "fmpa", &parts).remove(0);
        let mut parts = crate::key::KeyParts::new();
        parts.scope("b").tag("item", &2);
        let two = Target::of_parts("ns", "fmpa", &parts).remove(0);
        pending.park(one.clone());
        assert!(
            pending.blocks(&[scope("b").pending_key()]),
            "parked as its scope"
        );
        let ticket = pending.ticket(two.pending_key());
        pending.settle(&two, ticket);
        assert_eq!(pending.count(), 1, "item 2 landing does not cover item 1");
        let ticket = pending.ticket(one.pending_key());
        pending.settle(&scope("b"), ticket);
        assert_eq!(pending.count(), 0, "the scope's retry does");
    }

    #[test]
    fn past_the_limit_scopes_fold_into_their_prefix() {
        let pending = Pending::with_limit(2);
        for name in ["a", "b", "c", "d"] {
            pending.park(scope(name));
        }
        assert_eq!(pending.count(), 3, "a, b, then the prefix once");
        let prefix = Target::prefix("ns", "fmpa");
        // A read of scope d checks its prefix's marker too: it is blocked.
        assert!(pending.blocks(&[prefix.pending_key(), scope("d").pending_key()]));
    }
}
