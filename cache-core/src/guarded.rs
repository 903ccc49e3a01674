//! The future of a backend operation run through its breaker ([`crate::inner::Inner::guarded`]).
//!
//! A combinator rather than an `async fn`: an `async fn` that takes a future and awaits
//! it holds it twice in its state (as its argument, then as what it awaits), and a hit
//! nests several such layers, so its future grew to kilobytes that every caller moved.

use crate::breaker::{Breaker, Permit};
use crate::error::CacheError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project_lite::pin_project! {
    /// `op`, unless its breaker said to skip Redis; its outcome reported to the breaker.
    pub(crate) struct Guarded<'a, F> {
        #[pin]
        op: F,
        // `None`: no breaker (the memory store).
        breaker: Option<&'a Breaker>,
        skip: bool,
    }
}

impl<'a, F> Guarded<'a, F> {
    /// `op` through `breaker` (asked now whether Redis may be tried), or through none.
    pub(crate) fn new(op: F, breaker: Option<&'a Breaker>) -> Self {
        let skip = breaker.is_some_and(|breaker| breaker.permit() == Permit::Skip);
        Guarded { op, breaker, skip }
    }
}

impl<T, F> Future for Guarded<'_, F>
where
    F: Future<Output = Result<T, CacheError>>,
{
    type Output = Result<T, CacheError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if *this.skip {
            return Poll::Ready(Err(CacheError::Unavailable));
        }
        let result = ready!(this.op.poll(cx));
        if let Some(breaker) = this.breaker {
            report(breaker, &result);
        }
        Poll::Ready(result)
    }
}

/// Tells `breaker` how an operation went.
fn report<T>(breaker: &Breaker, result: &Result<T, CacheError>) {
    match result {
        // A refusal is an answer: Redis is up.
        Ok(_) | Err(CacheError::Refused(_)) => breaker.success(),
        Err(error) if error.is_transport() => {
            if breaker.failure() {
                tracing::warn!("cache: Redis keeps failing; skipping it and probing again later");
            }
        }
        Err(_) => {}
    }
}

pin_project_lite::pin_project! {
    /// A driver call under its deadline, its error classified
    /// ([`CacheError::from_driver`], or [`CacheError::Timeout`]).
    pub(crate) struct Within<F> {
        #[pin]
        call: tokio::time::Timeout<F>,
        deadline: std::time::Duration,
    }
}

impl<F: Future> Within<F> {
    pub(crate) fn new(call: F, deadline: std::time::Duration) -> Self {
        Within {
            call: tokio::time::timeout(deadline, call),
            deadline,
        }
    }
}

impl<T, F> Future for Within<F>
where
    F: Future<Output = redis::RedisResult<T>>,
{
    type Output = Result<T, CacheError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match ready!(this.call.poll(cx)) {
            Ok(result) => result.map_err(CacheError::from_driver),
            Err(_) => Err(CacheError::Timeout(*this.deadline)),
        })
    }
}
