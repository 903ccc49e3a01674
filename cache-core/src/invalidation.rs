//! Invalidation: the one function every invalidation goes through (its targets are
//! [`Target`]s), and the retry of those that did not land.
//!
//! An invalidation **removes** generation keys (`UNLINK`): the scope's, every copy of the
//! prefix's, or a tag value's (and its tag's "every value") in a scope or in every copy,
//! with, for a tag value, the fences of the tag's result index and the entries the
//! value's index lists ([`crate::index`]; one script per slot). The next read finds no
//! generation and creates a fresh token with `SET NX`, so entries filled before are never
//! current again. A write-through ([`crate::write_through`]) replaces one generation instead of
//! removing it, in the same step that stores its value. Removing is idempotent and
//! monotonic: a retry, a late duplicate or a delayed delivery can only remove a generation
//! once more (one more miss), never bring an older one back, in any order with other
//! invalidations from any process. It is also what a full Redis (`maxmemory` with
//! `noeviction`) still accepts: `UNLINK` frees memory, where a `SET` of a new token would
//! be refused.
//!
//! Once an invalidation has started, each of its targets is either removed or parked in
//! [`Pending`](crate::pending::Pending), even if the caller's future is dropped halfway:
//! the targets not yet settled are parked when it is dropped.

use crate::backend::{Notice, RemoveIndexed, WriteThrough};
use crate::error::CacheError;
use crate::inner::Inner;
use crate::l1::message::Message;
use crate::stats::Counters;
use crate::target::Target;
use crate::write_through::{Rotation, Store};
use std::collections::VecDeque;
use std::sync::Weak;
use std::time::Duration;

/// The targets of one invalidation not settled yet; dropped early (the caller's future
/// was cancelled), it parks them for the retry task.
struct Unsettled<'a> {
    inner: &'a Inner,
    targets: VecDeque<Target>,
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        for target in self.targets.drain(..) {
            park(self.inner, target);
        }
    }
}

/// Invalidates each target in turn: removed, or parked and retried. Returns the first
/// error (every target is still attempted).
pub(crate) async fn invalidate(inner: &Inner, targets: Vec<Target>) -> Result<(), CacheError> {
    invalidate_with(inner, targets, None).await
}

/// [`invalidate`], with a write-through first ([`crate::write_through`]): its
/// target settled by the write-through step when it stores, and the generation that
/// step replaces left alone by the other targets (removing it would remove the value
/// just stored).
pub(crate) async fn invalidate_with(
    inner: &Inner,
    mut targets: Vec<Target>,
    rotation: Option<Rotation>,
) -> Result<(), CacheError> {
    let mut store = None;
    if let Some(mut rotation) = rotation {
        if rotation.store.is_some() && targets.iter().any(|target| target.covers(&rotation.target))
        {
            // The write also invalidates the whole scope (or prefix) of the entry: a
            // value stored now would be dead at once.
            rotation.store = None;
            if let Some(suppressed) = inner.warnings.allow() {
                tracing::warn!(
                    prefix = rotation.target.prefix_name(),
                    suppressed,
                    "cache: write_through stores nothing when the write also invalidates the read's whole scope or prefix; invalidate tags instead (tag(list = tenant))"
                );
            }
        }
        // The rest of the replaced generation's target (its "any value" generation,
        // its result index) goes too, unless one of the write's targets is the same.
        if rotation.store.is_some() && !targets.contains(&rotation.target) {
            targets.insert(0, rotation.target.clone());
        }
        targets.insert(0, rotation.target);
        store = rotation.store;
    }
    // The generation the write-through replaced, once it has.
    let mut replaced: Option<String> = None;
    let mut unsettled = Unsettled {
        inner,
        targets: targets.into(),
    };
    let mut first_error = None;
    while let Some(target) = unsettled.targets.front() {
        let counters = inner.stats.prefix(target.prefix_name());
        counters.invalidation();
        let ticket = inner.pending.ticket(target.pending_key());
        let result = match store.take() {
            Some(store) => {
                let result = write_through(inner, &store, &counters).await;
                if result.is_ok() {
                    replaced = Some(store.own_key().to_owned());
                }
                result.map(|()| true)
            }
            None => remove_generations(inner, target, replaced.as_deref()).await,
        };
        let Some(target) = unsettled.targets.pop_front() else {
            break;
        };
        match result {
            // Part of it was replaced by the write-through before this target's
            // ticket was taken: settling would drop a later park.
            Ok(false) => {}
            Ok(true) => {
                inner.pending.settle(&target, ticket);
                tracing::debug!(key = target.pending_key(), "cache invalidated");
            }
            Err(error) => {
                inner.count_failure(&counters, "invalidate", &error);
                park(inner, target);
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The write-through step of `store`: stored, or (a generation changed) its own
/// generation removed. Either way the generation is settled.
async fn write_through(
    inner: &Inner,
    store: &Store,
    counters: &Counters,
) -> Result<(), CacheError> {
    let generations: Vec<&str> = store.generations.iter().map(String::as_str).collect();
    let own = [store.own_key()];
    let message = inner
        .backend
        .is_remote()
        .then(|| Message::Forget(own.to_vec()).encode());
    let op = WriteThrough {
        entry: &store.entry,
        value: &store.value,
        ttl: store.ttl,
        generations: &generations,
        expected: &store.expected,
        own: store.own,
        token: &store.token,
        generation_ttl: inner.generation_ttl,
        fences: &store.fences.0,
        fence_expected: &store.fences.1,
        indexes: &store.indexes,
        notice: notice(inner, message.as_deref()),
    };
    let stored = inner
        .guarded(&store.entry, inner.backend.write_through(&op))
        .await?;
    forget_locally(inner, true, &own);
    if stored {
        counters.written_through();
        tracing::debug!(key = store.entry, "cache written through");
    } else {
        tracing::debug!(
            key = store.entry,
            "cache: not written through (a concurrent write); invalidated"
        );
    }
    Ok(())
}

/// Removes the generation keys of `target` (and, for a tag value in a scope, the
/// entries its result index lists), but `except` (replaced by a write-through); whether
/// the removal was whole (nothing excepted), which alone may settle a pending park.
async fn remove_generations(
    inner: &Inner,
    target: &Target,
    except: Option<&str>,
) -> Result<bool, CacheError> {
    if let Some(groups) = target.index_groups() {
        // Only a scope's group can hold the excepted key (a write-through replaces a
        // scope's generation), and it is the target's only group: it just gets shorter.
        let keys: Vec<&str> = groups
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|key| Some(*key) != except)
            .collect();
        let whole = keys.len() == 4 * groups.len();
        let message = announce(inner, target, &keys);
        let op = RemoveIndexed {
            keys: &keys,
            group: keys.len() / groups.len().max(1),
            notice: notice(inner, message.as_deref()),
        };
        let removal = inner.backend.remove_indexed(&op);
        let removed = match target.is_scope() {
            true => inner.guarded(target.pending_key(), removal).await,
            false => inner.guarded_wide(removal).await,
        }?;
        if let Some(tier) = &inner.tier {
            // The entries the index listed: their values go from this tier at once.
            tier.local.forget(removed.iter().map(String::as_str));
        }
        forget_locally(inner, target.is_scope(), &keys);
        return Ok(whole);
    }
    let all = target.generation_keys();
    let keys: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|key| Some(*key) != except)
        .collect();
    let whole = keys.len() == all.len();
    let message = announce(inner, target, &keys);
    let removal = async {
        match notice(inner, message.as_deref()) {
            Some(notice) => inner.backend.remove_and_publish(&keys, &notice).await,
            None => inner.backend.remove_generations(&keys).await,
        }
    };
    match (target.is_scope(), keys.first()) {
        (_, None) => return Ok(false),
        (true, Some(key)) => inner.guarded(key, removal).await?,
        (false, _) => inner.guarded_wide(removal).await?,
    }
    forget_locally(inner, target.is_scope(), &keys);
    Ok(whole)
}

/// Deletes the keys matching `pattern` (a full key glob) and tells every tier of the
/// namespace (this one at once) to forget what it knows: generation keys may have gone.
/// The notice is owed from before the first key goes until it is published: if
/// publishing fails, or the caller's future is dropped halfway, the retry task
/// publishes it ([`Pending::owe_forget_all`](crate::pending::Pending::owe_forget_all)).
pub(crate) async fn delete_pattern(inner: &Inner, pattern: &str) -> Result<u64, CacheError> {
    let crate::backend::Backend::Redis(redis) = &inner.backend else {
        return inner.backend.delete_pattern(pattern).await;
    };
    let owed = ForgetOwed {
        inner,
        settled: false,
    };
    let deleted = inner.guarded_wide(redis.delete_pattern(pattern)).await?;
    forget_everywhere(inner).await?;
    owed.settle();
    Ok(deleted)
}

/// Every tier of the namespace (this one at once) forgets what it knows: published on
/// the backplane at one node (after the removal it announces).
pub(crate) async fn forget_everywhere(inner: &Inner) -> Result<(), CacheError> {
    let crate::backend::Backend::Redis(redis) = &inner.backend else {
        return Ok(());
    };
    if let Some(tier) = &inner.tier {
        tier.view.forget_all();
    }
    let nodes = inner.guarded_wide(redis.backplane_nodes()).await?;
    let Some(node) = nodes.first() else {
        return Ok(());
    };
    let message = Message::ForgetAll.encode();
    inner
        .guarded_wide(redis.publish_at(node, &inner.channel, &message))
        .await
}

/// On Redis: the backplane's message for the removal of `keys` of `target` (the keys
/// of a scope; everything for a target in every scope). Sent whether this cache has a
/// tier or not: other processes' tiers depend on it.
fn announce(inner: &Inner, target: &Target, keys: &[&str]) -> Option<Vec<u8>> {
    if !inner.backend.is_remote() {
        return None;
    }
    Some(match target.is_scope() {
        true => Message::Forget(keys.to_vec()).encode(),
        false => Message::ForgetAll.encode(),
    })
}

/// `message` as a notice on the namespace's backplane channel.
fn notice<'a>(inner: &'a Inner, message: Option<&'a [u8]>) -> Option<Notice<'a>> {
    Some(Notice {
        channel: &inner.channel,
        message: message?,
    })
}

/// After a removal returned: this process's view forgets the keys at once (its own
/// reads never wait for the backplane to see its own invalidation).
fn forget_locally(inner: &Inner, scope: bool, keys: &[&str]) {
    if let Some(tier) = &inner.tier {
        match scope {
            true => tier.view.forget(keys.iter().copied()),
            false => tier.view.forget_all(),
        }
    }
}

/// Keeps `target` for the retry task, and makes sure one runs.
pub(crate) fn park(inner: &Inner, target: Target) {
    inner.pending.park(target);
    spawn_retry(inner);
}

/// Starts the task that retries pending invalidations, unless one runs (or there is
/// no runtime here: the next invalidation or blocked read starts it).
pub(crate) fn spawn_retry(inner: &Inner) {
    if !inner.pending.start_retrying() {
        return;
    }

    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        inner.pending.abandon_retrying();
        return;
    };
    // The claim moves into the task's future: dropped with it, even unpolled.
    let claim = Claim {
        cache: inner.this.clone(),
        released: false,
    };
    runtime.spawn(retry_pending(claim));
}

/// A "forget everything" notice owed by a deletion by pattern: dropped unsettled (an
/// error, a cancelled caller), it leaves the notice to the retry task.
struct ForgetOwed<'a> {
    inner: &'a Inner,
    settled: bool,
}

impl ForgetOwed<'_> {
    fn settle(mut self) {
        self.settled = true;
    }
}

impl Drop for ForgetOwed<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.inner.pending.owe_forget_all();
            spawn_retry(self.inner);
        }
    }
}

/// The retry task's claim on its cache: released when the task ends in any way,
/// including being dropped, polled or not, by a runtime that shuts down.
struct Claim {
    cache: Weak<Inner>,
    released: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.released
            && let Some(inner) = self.cache.upgrade()
        {
            inner.pending.abandon_retrying();
        }
    }
}

/// Retries pending invalidations with backoff until none is left or the cache is gone.
async fn retry_pending(mut claim: Claim) {
    let cache = claim.cache.clone();
    let mut delay = Duration::from_millis(50);
    loop {
        // A real delay between attempts, not synchronisation.
        tokio::time::sleep(delay).await;
        let Some(inner) = cache.upgrade() else {
            claim.released = true;
            return;
        };
        if inner.pending.take_forget_all() && forget_everywhere(&inner).await.is_err() {
            inner.pending.owe_forget_all();
        }
        for (target, ticket) in inner.pending.snapshot() {
            if remove_generations(&inner, &target, None).await.is_ok() {
                inner.pending.settle(&target, Some(ticket));
                tracing::info!(
                    key = target.pending_key(),
                    "cache: pending invalidation landed"
                );
            }
        }
        if inner.pending.is_idle() && !inner.pending.stop_retrying() {
            claim.released = true;
            return;
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
