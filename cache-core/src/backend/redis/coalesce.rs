//! Coalesced hits: the reads of hits issued while two reads of the same slot are in
//! flight wait for one of them, then go together as one `MGET` (each key read once,
//! however many of them ask for it) and their `PTTL`s, in one pipeline.
//!
//! No timer: a read that finds fewer than two in flight on its slot is sent at once,
//! alone, exactly as without coalescing; only reads that would have queued behind them on
//! the connection anyway are gathered. When a read in flight ends, whatever gathered
//! meanwhile is sent by a task of its own (so the read that ended returns at once), which
//! takes its place in flight.

use super::{Node, RedisBackend};
use crate::error::CacheError;
use bytes::Bytes;
use redis::RedisError;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// What a hit's read returns: its keys' values, and its entry's remaining TTL when asked.
pub(crate) type HitRead = (Vec<Option<Bytes>>, Option<Duration>);

/// How many reads may be in flight on one slot before hits gather: two, so that Redis
/// works on one while the client parses the other's reply.
const IN_FLIGHT: u8 = 2;

/// The gathering of hits, per slot (slot 0 for a single server).
#[derive(Default)]
pub(crate) struct Coalescer {
    slots: Mutex<HashMap<u16, Lane>>,
}

/// One slot's reads in flight, and the hits gathered behind them.
#[derive(Default)]
struct Lane {
    in_flight: u8,
    gathered: Vec<Waiting>,
}

/// A hit waiting for the read in flight on its slot to end.
struct Waiting {
    keys: Keys,
    /// The entry whose remaining TTL is asked for, if it is.
    ttl_of: Option<String>,
    reply: oneshot::Sender<Result<HitRead, CacheError>>,
}

/// A hit's keys, copied into one buffer (two allocations, however many keys).
struct Keys {
    text: String,
    ends: Vec<usize>,
}

impl Keys {
    fn new(keys: &[&str]) -> Keys {
        let mut text = String::with_capacity(keys.iter().map(|key| key.len()).sum());
        let ends = keys
            .iter()
            .map(|key| {
                text.push_str(key);
                text.len()
            })
            .collect();
        Keys { text, ends }
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.text[start..end])
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Where a hit's read stands: sent alone by its caller, or gathered with others.
enum Turn<'a> {
    Alone(Busy<&'a RedisBackend>),
    Gathered(oneshot::Receiver<Result<HitRead, CacheError>>),
}

impl Coalescer {
    /// Enters a slot: alone if fewer than [`IN_FLIGHT`] reads are in flight there (one
    /// more until the returned [`Busy`] goes), or gathered behind them.
    fn enter<'a>(
        &self,
        backend: &'a RedisBackend,
        slot: u16,
        waiting: impl FnOnce(oneshot::Sender<Result<HitRead, CacheError>>) -> Waiting,
    ) -> Turn<'a> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let lane = slots.entry(slot).or_default();
        if lane.in_flight < IN_FLIGHT {
            lane.in_flight += 1;
            return Turn::Alone(Busy {
                backend,
                slot,
                idle: false,
            });
        }
        let (reply, receiver) = oneshot::channel();
        lane.gathered.push(waiting(reply));
        Turn::Gathered(receiver)
    }
}

/// A read in flight on a slot. When it goes (its read ended, or its caller's future was
/// dropped), the hits gathered meanwhile are sent by a task; with none, it leaves the slot.
/// The caller's borrows its backend (nothing cloned on a hit sent alone); the task's owns
/// a clone.
struct Busy<B: Borrow<RedisBackend>> {
    backend: B,
    slot: u16,
    /// Set once it left the slot (nothing was gathered).
    idle: bool,
}

impl<B: Borrow<RedisBackend>> Busy<B> {
    /// The hits gathered on this slot, taken (this read's place in flight goes to them);
    /// `None`, and it leaves the slot, when there are none.
    fn take(&mut self) -> Option<Vec<Waiting>> {
        if self.idle {
            return None;
        }
        let coalescer = self.backend.borrow().hits.as_deref()?;
        let mut slots = coalescer
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lane = slots.get_mut(&self.slot)?;
        if lane.gathered.is_empty() {
            lane.in_flight -= 1;
            if lane.in_flight == 0 {
                slots.remove(&self.slot);
            }
            self.idle = true;
            return None;
        }
        Some(std::mem::take(&mut lane.gathered))
    }
}

impl<B: Borrow<RedisBackend>> Drop for Busy<B> {
    fn drop(&mut self) {
        let Some(gathered) = self.take() else {
            return;
        };
        let busy = Busy {
            backend: self.backend.borrow().clone(),
            slot: self.slot,
            idle: false,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(send_gathered(busy, gathered))),
            // No runtime to send them from: they fail (read as misses), the slot frees.
            Err(_) => drop((busy, gathered)),
        }
    }
}

/// Sends the gathered hits, together, until none gathered during the last send. The
/// slot stays busy throughout; if this task is dropped (its runtime ends), `busy` hands
/// on what is left.
async fn send_gathered(mut busy: Busy<RedisBackend>, mut gathered: Vec<Waiting>) {
    loop {
        let read = together(&busy.backend, busy.slot, &gathered).await;
        answer(gathered, read);
        match busy.take() {
            Some(next) => gathered = next,
            None => return,
        }
    }
}

/// Each hit its keys' values out of the one read (or the read's error). A value only
/// one hit asked for is moved to it; a shared one (a generation) is cloned.
fn answer(gathered: Vec<Waiting>, read: Result<Together, CacheError>) {
    let mut read = match read {
        Ok(read) => read,
        Err(error) => {
            for waiting in gathered {
                let _ = waiting.reply.send(Err(error.duplicate()));
            }
            return;
        }
    };
    let mut left = vec![0u32; read.values.len()];
    for (keys, _) in &read.asked {
        for &at in keys {
            left[at] += 1;
        }
    }
    for (waiting, (keys, ttl)) in gathered.into_iter().zip(std::mem::take(&mut read.asked)) {
        let values = keys
            .iter()
            .map(|&at| {
                left[at] -= 1;
                match left[at] {
                    0 => read.values[at].take(),
                    _ => read.values[at].clone(),
                }
            })
            .collect();
        let ttl = ttl.and_then(|at| read.ttls[at]);
        let _ = waiting.reply.send(Ok((values, ttl)));
    }
}

/// Each distinct key, and where it is in the read (foldhash: the keys are many and
/// short-lived, and none is chosen by an attacker who could collide them to any gain).
type Distinct<'a> = HashMap<&'a str, usize, foldhash::fast::RandomState>;

/// One read for many hits: the values of each distinct key, the remaining TTL of each
/// distinct entry asked for, and, per hit, where its answers are.
struct Together {
    values: Vec<Option<Bytes>>,
    ttls: Vec<Option<Duration>>,
    asked: Vec<(Vec<usize>, Option<usize>)>,
}

/// `MGET` of the distinct keys of `gathered` and `PTTL` of each distinct entry whose TTL
/// is asked for, in one pipeline on `slot`'s node.
async fn together(
    backend: &RedisBackend,
    slot: u16,
    gathered: &[Waiting],
) -> Result<Together, CacheError> {
    let mut keys: Distinct<'_> = HashMap::with_capacity_and_hasher(
        gathered.len() * gathered.first().map_or(0, |w| w.keys.len()),
        Default::default(),
    );
    let mut entries: Distinct<'_> = HashMap::default();
    let mut asked = Vec::with_capacity(gathered.len());
    for waiting in gathered {
        let at: Vec<usize> = waiting
            .keys
            .iter()
            .map(|key| {
                let next = keys.len();
                *keys.entry(key).or_insert(next)
            })
            .collect();
        let ttl = waiting.ttl_of.as_deref().map(|entry| {
            let next = entries.len();
            *entries.entry(entry).or_insert(next)
        });
        asked.push((at, ttl));
    }
    let mut distinct = vec![""; keys.len()];
    for (key, at) in keys {
        distinct[at] = key;
    }
    let mut ttls_of = vec![""; entries.len()];
    for (entry, at) in entries {
        ttls_of[at] = entry;
    }
    let mut pipe = redis::pipe();
    pipe.cmd("MGET").arg(&distinct);
    for entry in &ttls_of {
        pipe.cmd("PTTL").arg(*entry);
    }
    let node = backend.is_cluster().then(|| {
        use redis::cluster_routing::{Route, SlotAddr};
        Node::SpecificNode(Route::new(slot, SlotAddr::Master))
    });
    let mut replies = backend
        .pipeline_at(&backend.conn, node, pipe)
        .await?
        .into_iter();
    let values = replies.next().ok_or(CacheError::Unavailable)?;
    let values: Vec<Option<Bytes>> = redis::from_redis_value(values).map_err(RedisError::from)?;
    let mut ttls = Vec::with_capacity(ttls_of.len());
    for reply in replies {
        let ttl: i64 = redis::from_redis_value(reply).map_err(RedisError::from)?;
        ttls.push(u64::try_from(ttl).ok().map(Duration::from_millis));
    }
    if values.len() != distinct.len() || ttls.len() != ttls_of.len() {
        return Err(CacheError::Unavailable);
    }
    Ok(Together {
        values,
        ttls,
        asked,
    })
}

impl RedisBackend {
    /// A hit's read: `MGET keys` (all in `entry`'s slot), with `entry`'s remaining TTL when
    /// `ttl`. Sent at once when fewer than two reads are in flight on the slot; otherwise
    /// gathered with the hits that arrive meanwhile, and sent with them as soon as one of
    /// those reads ends.
    pub async fn read_hit(
        &self,
        keys: &[&str],
        entry: &str,
        ttl: bool,
    ) -> Result<HitRead, CacheError> {
        let Some(coalescer) = &self.hits else {
            return self.read_alone(keys, entry, ttl).await;
        };
        let slot = match self.is_cluster() {
            true => crate::slot::of(entry),
            false => 0,
        };
        let turn = coalescer.enter(self, slot, |reply| Waiting {
            keys: Keys::new(keys),
            ttl_of: ttl.then(|| entry.to_owned()),
            reply,
        });
        match turn {
            Turn::Alone(busy) => {
                let read = self.read_alone(keys, entry, ttl).await;
                drop(busy);
                read
            }
            // The sender gone without an answer: its task died with its runtime.
            Turn::Gathered(answer) => answer.await.unwrap_or(Err(CacheError::Unavailable)),
        }
    }

    /// One hit's read, sent on its own.
    async fn read_alone(
        &self,
        keys: &[&str],
        entry: &str,
        ttl: bool,
    ) -> Result<HitRead, CacheError> {
        match ttl {
            true => self.mget_ttl(keys, entry).await,
            false => Ok((self.mget(keys).await?, None)),
        }
    }
}
