//! The door of batch sites (`#[cached(batch = ids)]`, re-exported by `__private`): the
//! output modes of a function that returns many values, and the call itself. The read is
//! [`crate::read::batch`].

use crate::Cache;
use crate::l1::{Cloned, LocalCopy};
use crate::site::Site;
use std::future::Future;
use std::marker::PhantomData;

/// How a batch function's output holds its values: `Result<Map, E>` or the map itself.
pub trait BatchMode {
    /// The function's output.
    type Output;
    /// The collection of `(id, value)` pairs inside it (`HashMap`, `BTreeMap`,
    /// `Vec<(K, V)>`...).
    type Map;
    /// Whether a failure is visible (`Result`): then the cache's fail-safe grace applies
    /// to what it stores, as for a single-id `Result` site.
    const FAILS_VISIBLY: bool;
    /// The map, or the output as it is when it failed.
    fn split(output: Self::Output) -> Result<Self::Map, Self::Output>;
    /// The output holding `map`.
    fn wrap(map: Self::Map) -> Self::Output;
}

/// What a batch function's values come in: `(id, value)` pairs, each id once.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not hold values by id: a batch function returns `HashMap<K, V>`, `BTreeMap<K, V>` or `Vec<(K, V)>` (or a `Result` of one)",
    label = "not a map of ids to values",
    note = "each value is cached under the key of its id: the output must say which id each value is for"
)]
pub trait BatchMap {
    /// The type of the ids.
    type Id;
    /// The type of the values, each one cached as the single-id read caches it.
    type Value;
    /// The pairs, in the collection's order.
    fn into_pairs(self) -> Vec<(Self::Id, Self::Value)>;
    /// The collection of `pairs`, in their order.
    fn from_pairs(pairs: Vec<(Self::Id, Self::Value)>) -> Self;
}

impl<K: Eq + std::hash::Hash, V, S: std::hash::BuildHasher + Default> BatchMap
    for std::collections::HashMap<K, V, S>
{
    type Id = K;
    type Value = V;
    fn into_pairs(self) -> Vec<(K, V)> {
        self.into_iter().collect()
    }
    fn from_pairs(pairs: Vec<(K, V)>) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K: Ord, V> BatchMap for std::collections::BTreeMap<K, V> {
    type Id = K;
    type Value = V;
    fn into_pairs(self) -> Vec<(K, V)> {
        self.into_iter().collect()
    }
    fn from_pairs(pairs: Vec<(K, V)>) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K, V> BatchMap for Vec<(K, V)> {
    type Id = K;
    type Value = V;
    fn into_pairs(self) -> Vec<(K, V)> {
        self
    }
    fn from_pairs(pairs: Vec<(K, V)>) -> Self {
        pairs
    }
}

/// A batch function returning `Result<Map, E>`.
pub struct BatchResult<O>(PhantomData<fn() -> O>);

/// A batch function returning the map itself.
pub struct BatchValue<O>(PhantomData<fn() -> O>);

impl<O> BatchResult<O> {
    /// The mode, as a value for [`cached_batch`].
    pub fn new() -> Self {
        BatchResult(PhantomData)
    }
}

impl<O> BatchValue<O> {
    /// The mode, as a value for [`cached_batch`].
    pub fn new() -> Self {
        BatchValue(PhantomData)
    }
}

impl<O> Default for BatchResult<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O> Default for BatchValue<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> BatchMode for BatchResult<Result<T, E>> {
    type Output = Result<T, E>;
    type Map = T;
    const FAILS_VISIBLY: bool = true;
    fn split(output: Result<T, E>) -> Result<T, Result<T, E>> {
        output.map_err(Err)
    }
    fn wrap(map: T) -> Result<T, E> {
        Ok(map)
    }
}

impl<T> BatchMode for BatchValue<T> {
    type Output = T;
    type Map = T;
    const FAILS_VISIBLY: bool = false;
    fn split(output: T) -> Result<T, T> {
        Ok(output)
    }
    fn wrap(map: T) -> T {
        map
    }
}

/// What a batch site does besides its key: the in-process tier, per id.
pub struct BatchOptions<'a, V> {
    copy: Option<&'a dyn LocalCopy<V>>,
}

impl<V> BatchOptions<'_, V> {
    /// Nothing.
    pub fn new() -> Self {
        BatchOptions { copy: None }
    }

    /// An `l1` site: each id's value may also be kept in the cache's in-process tier.
    pub fn local(mut self) -> Self
    where
        V: crate::l1::Shareable,
    {
        self.copy = Some(&Cloned);
        self
    }
}

impl<V> Default for BatchOptions<'_, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// One call of a batch site: each id of `ids` is the last key argument of its own entry
/// (`parts` holds the others), the entry the single-id read of the same prefix, name and
/// key reads and writes. The ids found (in the tier, in Redis, or being loaded by another
/// call) are not loaded again; `body` runs once with the others, and what it returns for
/// them is stored. The output holds each id once, in the order given (then any pair the
/// function returned for an id not asked for); an id the function did not return is left
/// out, and not cached. With no cache, `body` runs with every id.
pub async fn cached_batch<'i, M, K, V, B, Fut>(
    _mode: M,
    site: &'static Site,
    cache: Option<Cache>,
    parts: crate::key::KeyParts,
    ids: impl IntoIterator<Item = &'i K>,
    options: BatchOptions<'_, V>,
    body: B,
) -> M::Output
where
    M: BatchMode,
    M::Map: BatchMap<Id = K, Value = V>,
    K: serde::Serialize + Clone + 'i,
    V: serde::Serialize + serde::de::DeserializeOwned,
    B: FnOnce(Vec<K>) -> Fut,
    Fut: Future<Output = M::Output>,
{
    site.register::<V>();
    let ids: Vec<K> = ids.into_iter().cloned().collect();
    let Some(cache) = cache else {
        return body(ids).await;
    };
    let body = |missing| async move {
        match M::split(body(missing).await) {
            Ok(map) => Ok(map.into_pairs()),
            Err(failed) => Err(failed),
        }
    };
    let read = crate::read::batch::read_many(
        &cache.inner,
        site,
        &parts,
        ids,
        options.copy,
        M::FAILS_VISIBLY,
        body,
    );
    match read.await {
        Ok(pairs) => M::wrap(BatchMap::from_pairs(pairs)),
        Err(failed) => failed,
    }
}
