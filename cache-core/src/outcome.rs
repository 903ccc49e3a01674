//! What is stored of a function's output: `Ok` of a `Result`, `Some` of an `Option`
//! (and `None` when asked), any other value as it is.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// How a function's output maps to the value stored in the cache.
///
/// `#[cached]` picks the mode from the return type; the mode never changes the output
/// the caller gets, only what is kept.
pub trait Mode {
    /// The function's output.
    type Output;
    /// What is serialized into the cache.
    type Stored: Serialize + DeserializeOwned;
    /// The part of `output` to store, if it should be stored.
    fn stored(output: &Self::Output) -> Option<&Self::Stored>;
    /// The output to return on a hit.
    fn restore(stored: Self::Stored) -> Self::Output;
}

/// `Result<T, E>` (or an alias of it): only `Ok(T)` is stored; errors never are.
pub struct ResultMode<O>(PhantomData<O>);

impl<T: Serialize + DeserializeOwned, E> Mode for ResultMode<Result<T, E>> {
    type Output = Result<T, E>;
    type Stored = T;
    fn stored(output: &Self::Output) -> Option<&T> {
        output.as_ref().ok()
    }
    fn restore(stored: T) -> Self::Output {
        Ok(stored)
    }
}

/// `Option<T>`: `Some(T)` is stored; `None` only when `CACHE_NONE` (negative caching).
pub struct OptionMode<O, const CACHE_NONE: bool>(PhantomData<O>);

impl<T: Serialize + DeserializeOwned, const CACHE_NONE: bool> Mode
    for OptionMode<Option<T>, CACHE_NONE>
{
    type Output = Option<T>;
    type Stored = Option<T>;
    fn stored(output: &Option<T>) -> Option<&Option<T>> {
        (output.is_some() || CACHE_NONE).then_some(output)
    }
    fn restore(stored: Option<T>) -> Option<T> {
        stored
    }
}

/// Any other serde value: always stored.
pub struct ValueMode<O>(PhantomData<O>);

impl<T: Serialize + DeserializeOwned> Mode for ValueMode<T> {
    type Output = T;
    type Stored = T;
    fn stored(output: &T) -> Option<&T> {
        Some(output)
    }
    fn restore(stored: T) -> T {
        stored
    }
}
