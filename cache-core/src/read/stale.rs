//! The fail-safe stage ([`crate::fail_safe`]): a read that found its entry past its TTL
//! but current keeps the old bytes; if the reload fails, they answer it, provided the
//! generations are still current once the failure is known.

use super::{load, open};
use crate::entry::Generations;
use crate::inner::Inner;
use crate::key::CallKeys;
use crate::outcome::Mode;
use crate::payload::Payload;
use crate::sensitive::Keyring;
use crate::site::CallSite;
use crate::stats::Counters;
use bytes::Bytes;
use futures_util::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// The bytes of an entry past its TTL whose generations were current when read.
pub(crate) struct Stale {
    pub raw: Bytes,
    pub payload_at: usize,
    pub payload: Payload,
}

impl Stale {
    /// The value these bytes hold, opened as the read that found them would.
    pub fn value<T: serde::de::DeserializeOwned>(
        &self,
        keyring: Option<&Keyring>,
        keys: &CallKeys,
        generations: &Generations,
    ) -> Result<T, String> {
        let bytes = &self.raw[self.payload_at..];
        open::<T>(keyring, keys, generations, self.payload, bytes)
    }
}

/// What a reload with a fail-safe value came to.
pub(super) enum Reload<O> {
    /// The function's output, not a failure.
    Done(O),
    /// An `Err`, or a panic (its payload).
    Failed(Result<O, Box<dyn Any + Send>>),
}

/// Runs the load, a panic caught: a failure may be answered with the old value.
pub(super) async fn reload<M: Mode>(
    counters: &Counters,
    fut: impl Future<Output = M::Output>,
) -> Reload<M::Output> {
    // Boxed: the load's future (the function's body) lives on the heap on this path, not
    // in the frames of every poll.
    match AssertUnwindSafe(Box::pin(load(counters, fut)))
        .catch_unwind()
        .await
    {
        Ok(out) if !M::failed(&out) => Reload::Done(out),
        Ok(out) => Reload::Failed(Ok(out)),
        Err(panic) => Reload::Failed(Err(panic)),
    }
}

/// The old value, if the generations it was filled under are current now; the reload of
/// its key is then held back for the throttle.
#[allow(clippy::too_many_arguments)]
pub(super) async fn old_value<M: Mode>(
    inner: &Inner,
    site: &impl CallSite,
    keys: &CallKeys,
    generations: &Generations,
    keyring: Option<&Keyring>,
    stale: &Stale,
    counters: &Counters,
    why: &str,
) -> Option<M::Output> {
    if !super::lookup::still_current(inner, keys, generations, counters).await {
        return None;
    }
    let value = stale.value::<M::Stored>(keyring, keys, generations).ok()?;
    counters.stale_served();
    inner.fail_safe.hold_back(keys.entry());
    inner.fail_safe.served_old(site.prefix(), site.name(), why);
    tracing::debug!(key = keys.entry(), "cache: fail-safe value served");
    Some(M::restore(value))
}

/// Awaits `fut` (a reload, or the wait for another caller's); with a soft timeout, once
/// it has taken that long the caller is answered with the old value, if its generations
/// are current then (a value an invalidation removed is never the answer), and `fut`
/// goes on.
pub(super) async fn within<T, O>(
    inner: &Inner,
    keys: &CallKeys,
    old: Option<(&Stale, &Generations, Option<&Keyring>)>,
    soft: Option<super::Soft<T>>,
    counters: &Counters,
    fut: impl Future<Output = O>,
) -> O
where
    T: serde::de::DeserializeOwned,
{
    let (Some(soft), Some((stale, generations, keyring))) = (soft, old) else {
        return fut.await;
    };
    let mut fut = std::pin::pin!(fut);
    if let Ok(out) = tokio::time::timeout(soft.timeout, &mut fut).await {
        return out;
    }
    if super::lookup::still_current(inner, keys, generations, counters).await
        && let Ok(value) = stale.value::<T>(keyring, keys, generations)
    {
        counters.stale_served();
        tracing::debug!(
            key = keys.entry(),
            "cache: the reload is slow; the fail-safe value answered, the reload goes on"
        );
        let _ = soft.answer.send(value);
    }
    fut.await
}

/// What a failed reload was, for the log.
pub(super) fn why<O>(failure: &Result<O, Box<dyn Any + Send>>) -> &'static str {
    match failure {
        Ok(_) => "the function returned an error",
        Err(_) => "the function panicked",
    }
}

/// The old value for a failed reload if there is one, else the failure itself (a panic
/// resumed).
pub(super) fn answer<O>(old: Option<O>, failure: Result<O, Box<dyn Any + Send>>) -> O {
    match (old, failure) {
        (Some(old), _) => old,
        (None, Ok(out)) => out,
        (None, Err(panic)) => std::panic::resume_unwind(panic),
    }
}
