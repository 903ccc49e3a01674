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
    /// Whether outputs of this mode show a failure (a `Result`): only those may be
    /// answered with a fail-safe value.
    const FAILS_VISIBLY: bool = false;
    /// Whether `output` is a failure (an `Err`).
    fn failed(_output: &Self::Output) -> bool {
        false
    }
}

/// `Result<T, E>` (or an alias of it): only `Ok(T)` is stored; errors never are.
pub struct ResultMode<O>(PhantomData<fn() -> O>);

impl<O> ResultMode<O> {
    /// The mode, as a value (see [`Probe`]).
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<O> Default for ResultMode<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> ResultMode<Result<T, E>> {
    /// Whether `#[invalidates]` should invalidate after this output: on `Ok` only.
    pub fn succeeded(&self, output: &Result<T, E>) -> bool {
        output.is_ok()
    }

    /// What `#[invalidates]` takes keys from: the `Ok` value.
    pub fn ok<'a>(&self, output: &'a Result<T, E>) -> Option<&'a T> {
        output.as_ref().ok()
    }
}

impl<T: Serialize + DeserializeOwned, E> Mode for ResultMode<Result<T, E>> {
    type Output = Result<T, E>;
    type Stored = T;
    fn stored(output: &Self::Output) -> Option<&T> {
        output.as_ref().ok()
    }
    fn restore(stored: T) -> Self::Output {
        Ok(stored)
    }
    const FAILS_VISIBLY: bool = true;
    fn failed(output: &Self::Output) -> bool {
        output.is_err()
    }
}

/// `Option<T>`: `Some(T)` is stored; `None` only when `CACHE_NONE` (negative caching).
pub struct OptionMode<O, const CACHE_NONE: bool>(PhantomData<fn() -> O>);

impl<O, const CACHE_NONE: bool> Default for OptionMode<O, CACHE_NONE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O, const CACHE_NONE: bool> OptionMode<O, CACHE_NONE> {
    /// The mode, as a value (see [`Probe`]).
    pub const fn new() -> Self {
        Self(PhantomData)
    }

    /// Whether `#[invalidates]` should invalidate after this output: always.
    pub fn succeeded(&self, _: &O) -> bool {
        true
    }

    /// What `#[invalidates]` takes keys from: the output.
    pub fn ok<'a>(&self, output: &'a O) -> Option<&'a O> {
        Some(output)
    }
}

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
pub struct ValueMode<O>(PhantomData<fn() -> O>);

impl<O> Default for ValueMode<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O> ValueMode<O> {
    /// The mode, as a value (see [`Probe`]).
    pub const fn new() -> Self {
        Self(PhantomData)
    }

    /// Whether `#[invalidates]` should invalidate after this output: always.
    pub fn succeeded(&self, _: &O) -> bool {
        true
    }

    /// What `#[invalidates]` takes keys from: the output.
    pub fn ok<'a>(&self, output: &'a O) -> Option<&'a O> {
        Some(output)
    }
}

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

/// Picks the mode from the concrete return type, whatever it is called: an alias of
/// `Result` (`type Fallible<T> = Result<T, ApiError>`) is a `Result`, a struct named
/// `SearchResult` is a value.
///
/// Autoref specialisation: `(&&Probe::<O, N, true>::new()).pick()` resolves, by method
/// lookup, to [`PickResult`] when `O` is a `Result`, else to [`PickOption`] when it is an
/// `Option`, else to [`PickValue`]. With `RESULT = false` (`result = false`), a `Result`
/// is a value.
pub struct Probe<O, const CACHE_NONE: bool, const RESULT: bool>(PhantomData<fn() -> O>);

impl<O, const CACHE_NONE: bool, const RESULT: bool> Probe<O, CACHE_NONE, RESULT> {
    /// A probe of `O`.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<O, const CACHE_NONE: bool, const RESULT: bool> Default for Probe<O, CACHE_NONE, RESULT> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O, const CACHE_NONE: bool, const RESULT: bool> Clone for Probe<O, CACHE_NONE, RESULT> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O, const CACHE_NONE: bool, const RESULT: bool> Copy for Probe<O, CACHE_NONE, RESULT> {}

/// The mode of a `Result`; see [`Probe`].
pub trait PickResult {
    /// The mode picked.
    type Mode;
    /// The mode, as a value.
    fn pick(self) -> Self::Mode;
}

/// The mode of an `Option`; see [`Probe`].
pub trait PickOption {
    /// The mode picked.
    type Mode;
    /// The mode, as a value.
    fn pick(self) -> Self::Mode;
}

/// The mode of any other value; see [`Probe`].
pub trait PickValue {
    /// The mode picked.
    type Mode;
    /// The mode, as a value.
    fn pick(self) -> Self::Mode;
}

impl<T, E, const CACHE_NONE: bool> PickResult for &&Probe<Result<T, E>, CACHE_NONE, true> {
    type Mode = ResultMode<Result<T, E>>;
    fn pick(self) -> Self::Mode {
        ResultMode(PhantomData)
    }
}

impl<T, const CACHE_NONE: bool, const RESULT: bool> PickOption
    for &Probe<Option<T>, CACHE_NONE, RESULT>
{
    type Mode = OptionMode<Option<T>, CACHE_NONE>;
    fn pick(self) -> Self::Mode {
        OptionMode(PhantomData)
    }
}

impl<O, const CACHE_NONE: bool, const RESULT: bool> PickValue for Probe<O, CACHE_NONE, RESULT> {
    type Mode = ValueMode<O>;
    fn pick(self) -> Self::Mode {
        ValueMode(PhantomData)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fallible<T> = Result<T, String>;
    type Maybe<T> = Option<T>;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct SearchResult;

    fn name<M>(_: M) -> &'static str {
        std::any::type_name::<M>()
    }

    #[test]
    // The references are the point: method lookup through them picks the mode.
    #[allow(clippy::needless_borrow)]
    fn the_mode_comes_from_the_type_not_its_name() {
        let result = name((&&Probe::<Fallible<u8>, false, true>::new()).pick());
        assert!(result.contains("ResultMode"), "{result}");
        let option = name((&&Probe::<Maybe<u8>, true, true>::new()).pick());
        assert!(option.contains("OptionMode"), "{option}");
        let value = name((&&Probe::<SearchResult, false, true>::new()).pick());
        assert!(value.contains("ValueMode"), "{value}");
        let value = name((&&Probe::<Vec<u8>, false, true>::new()).pick());
        assert!(value.contains("ValueMode"), "{value}");
        // `result = false`: a Result is then a value.
        let value = name((&&Probe::<Fallible<u8>, false, false>::new()).pick());
        assert!(value.contains("ValueMode"), "{value}");
        let option = name((&&Probe::<Maybe<u8>, false, false>::new()).pick());
        assert!(option.contains("OptionMode"), "{option}");
    }
}
