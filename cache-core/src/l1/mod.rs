//! The in-process tier (`l1`): decoded values kept in this process, served only while
//! they are known to be current.
//!
//! Each value keeps the generation tokens it was read (or filled) under. The [`View`]
//! maps generation keys to the tokens this process knows to be current; the backplane
//! ([`crate::l1::backplane`]) keeps it so: every invalidation is published with the keys it
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

pub(crate) mod backplane;
pub(crate) mod message;
pub(crate) mod serve;
mod store;
mod view;

pub use self::serve::{Cloned, LocalCopy, Shareable};
pub(crate) use self::store::{Local, LocalEntry};
pub(crate) use self::view::View;

use std::sync::atomic::Ordering;
use std::time::Duration;

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
