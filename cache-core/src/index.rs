//! Dependencies from the result: `#[cached(tag(item = |page| ...))]` lists the values a
//! cached value depends on (the ids a page holds), known only once it is loaded. The
//! entry is then indexed under each value, in its scope and in its scope's bucket
//! ([`crate::key`]), and invalidating a value (in one scope, or in every scope through the
//! buckets) removes what its indexes list: the pages that hold item 42, not every page.
//! A hit checks nothing more than before.
//!
//! Race-free like a fill: the fences of each result tag (in the scope and in the bucket)
//! are read, created if missing, before the load, and the indexed fill stores nothing if
//! an invalidation of that tag removed one since; one that comes after the fill finds the
//! entry in the index.

use crate::key::{self, CallKeys};
use crate::sensitive::Keyring;
use bytes::Bytes;
use serde::Serialize;

/// The values one cached value depends on, per result tag, encoded as key components;
/// filled by the code `#[cached]` generates.
#[derive(Debug, Default)]
pub struct Index {
    values: Vec<(&'static str, String)>,
    invalid: bool,
}

impl Index {
    /// Adds the values of `tag` (what the attribute's closure returned: any iterable of
    /// serde values, an `Option` included).
    pub fn add<V: ResultTagValues>(&mut self, tag: &'static str, values: V) {
        values.each(|value| {
            let mut encoded = String::new();
            self.invalid |= value.push_to(&mut encoded).is_err();
            self.values.push((tag, encoded));
        });
    }

    /// The tags and encoded values; `None` if one did not serialize (then the entry
    /// cannot be indexed, and is not stored).
    pub(crate) fn values(&self) -> Option<&[(&'static str, String)]> {
        (!self.invalid).then_some(&self.values)
    }
}

/// What a result tag's closure may return: the values the entry depends on, as anything
/// iterable over serde values (an iterator, a collection, an `Option` for one).
#[diagnostic::on_unimplemented(
    message = "a result tag lists the values the entry depends on; `{Self}` is not an iterable of serde values",
    label = "return an iterator, a collection or an `Option` of serde values",
    note = "e.g. tag(item = |page: &Page| page.items.iter().map(|row| row.id))"
)]
pub trait ResultTagValues {
    /// Calls `f` with each value.
    fn each(self, f: impl FnMut(&dyn erased::Value));
}

impl<I> ResultTagValues for I
where
    I: IntoIterator,
    I::Item: Serialize,
{
    fn each(self, mut f: impl FnMut(&dyn erased::Value)) {
        for value in self {
            f(&value);
        }
    }
}

mod erased {
    //! A serde value behind a reference to a trait object, so that the trait's method
    //! takes one callback type.
    use serde::Serialize;

    /// A value that can be encoded as a key component.
    pub trait Value {
        /// Appends the value, encoded, to `out`.
        fn push_to(&self, out: &mut String) -> Result<(), ()>;
    }

    impl<T: Serialize> Value for T {
        fn push_to(&self, out: &mut String) -> Result<(), ()> {
            crate::key::push_value_component(out, self).map_err(drop)
        }
    }
}

/// How a site's values are indexed: the generated closure.
pub type Indexer<'a, T> = &'a (dyn Fn(&T, &mut Index) + Sync);

/// The indexes an entry of `keys` is listed in for `values` (its result tags' values): in
/// its scope and in its scope's bucket, each value hashed for a sensitive call
/// (`keyring`), as its invalidations hash it.
pub(crate) fn index_keys(
    keys: &CallKeys,
    values: &[(&'static str, String)],
    keyring: Option<&Keyring>,
) -> Vec<String> {
    values
        .iter()
        .flat_map(|(tag, value)| {
            let value = match keyring {
                Some(keyring) => keyring.hash_component(value),
                None => value.clone(),
            };
            [keys.scope_generation(), keys.prefix_generation()]
                .map(|base| key::index_key(base, tag, Some(&value)))
        })
        .collect()
}

/// What a fill of an indexed site carries from before its load: the closure, and the
/// fences read then.
pub(crate) struct Indexing<'a, T> {
    pub indexer: Indexer<'a, T>,
    pub fences: Vec<String>,
    pub expected: Vec<Bytes>,
}
