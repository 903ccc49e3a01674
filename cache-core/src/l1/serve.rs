//! The in-process stage of the read path, for `l1` sites ([`crate::l1`]): a value the
//! tier holds and the view says is current is served without Redis; a value read from
//! Redis, or filled, is kept, if no invalidation was applied since the read began.

use super::Tier;
use crate::entry::Generations;
use crate::key::CallKeys;
use std::any::Any;
use std::time::{Duration, Instant};

/// How the values of a site go into the tier and come out: by `Clone`.
pub trait LocalCopy<T>: Sync {
    /// A copy of `value` to keep.
    fn share(&self, value: &T) -> Box<dyn Any + Send + Sync>;
    /// A copy of the value kept, if it is a `T`.
    fn copy(&self, kept: &(dyn Any + Send + Sync)) -> Option<T>;
}

/// [`LocalCopy`] by `Clone`, for any `Clone + Send + Sync + 'static` value.
pub struct Cloned;

impl<T: Clone + Send + Sync + 'static> LocalCopy<T> for Cloned {
    fn share(&self, value: &T) -> Box<dyn Any + Send + Sync> {
        Box::new(value.clone())
    }
    fn copy(&self, kept: &(dyn Any + Send + Sync)) -> Option<T> {
        kept.downcast_ref::<T>().cloned()
    }
}

/// What an `l1` site's value must be: cloned out of the in-process tier on each hit and
/// shared between threads.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be kept in the in-process tier (`l1`): it must be `Clone + Send + Sync + 'static`",
    label = "not `Clone + Send + Sync + 'static`",
    note = "a hit of the in-process tier returns a clone of the value kept: derive `Clone` for it, or remove `l1`"
)]
pub trait Shareable: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> Shareable for T {}

/// An `l1` read under way: how to copy its value, how long to keep it, and where the
/// view stood when it began.
pub(crate) struct LocalRead<'a, T> {
    pub copy: &'a dyn LocalCopy<T>,
    pub ttl: Duration,
    pub since: u64,
}

impl Tier {
    /// The tier's value for `keys`, if it holds one the view says is current now.
    pub(crate) fn hit<T>(&self, keys: &CallKeys, copy: &dyn LocalCopy<T>) -> Option<T> {
        if !self.view.is_fresh() {
            return None;
        }
        let entry = self.local.entry(keys.entry())?;
        if !self.view.validates(keys, &entry) {
            return None;
        }
        copy.copy(entry.value())
    }

    /// Keeps `value`, read or filled under `generations` by `read`, for the site's `l1`
    /// time but never past `until` (when its entry expires), unless the view changed since
    /// the read began (it may have raced an invalidation).
    pub(crate) fn keep_read<T>(
        &self,
        read: &LocalRead<'_, T>,
        keys: &CallKeys,
        generations: &Generations,
        value: &T,
        encoded: usize,
        until: Instant,
    ) {
        let now = Instant::now();
        let ttl = read.ttl.min(until.saturating_duration_since(now));
        if ttl.is_zero() {
            return;
        }
        if self.view.learn(read.since, keys, generations) {
            self.local.keep(
                keys.entry(),
                read.copy.share(value),
                generations,
                encoded,
                now + ttl,
            );
            // A notice applied between the check and the keep may have named this entry
            // (a removal by result tag, which moves no generation): dropped again.
            if self.view.seq() != read.since {
                self.local.forget([keys.entry()]);
            }
        }
    }
}
