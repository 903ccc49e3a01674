//! Write-through: a write stores its result under the key of a cached read, so that the
//! next read is a hit, without ever publishing a value older than a later invalidation.
//!
//! Before the write's body runs, the read's generations are captured (read, or created
//! when missing: the same lookup a read makes). After the body succeeded, one atomic step
//! ([`crate::backend::WriteThrough`], a script on Redis) compares them with the current
//! ones:
//! - **none changed**: the entry's own generation (its first tag value's, or its scope's)
//!   is replaced by a fresh token and the value stored under it. Replacing it is the
//!   invalidation the write owes that generation: every other entry filled under the old
//!   token (a list holding the item) stops being current, as with a removal.
//! - **one changed**: another write (or invalidation) ran between the capture and now, and
//!   which of the two committed last is unknown; the generation is removed and nothing is
//!   stored. The next read loads from the database.
//!
//! Why that is race-free: a value stored here was committed after the capture. Any write
//! committed later invalidates after its commit, so after this store (the entry goes) or
//! before it (a generation changed: no store). Any write committed earlier and still
//! invalidating after the capture changes a generation, so this store does not happen
//! (never a hit older than that write's invalidation). A fill racing with this store
//! writes the entry under the generations it read, which are either the ones replaced
//! here (its entry is never current) or newer ones, created after this write's
//! commit (its value is at least as new).
//!
//! A read indexed by its result (`tag(item = |rows| ...)`) is written through as it is
//! filled ([`crate::index`]): its fences are captured with its generations, the store is
//! refused if one moved, and the stored value is listed in the indexes of the values it
//! holds, in the same step. A later invalidation of one of them removes it.
//!
//! A failure anywhere (Redis down, a capture that could not read) falls back to what a
//! write without write-through does: the generation is removed, or parked for retry.

use crate::Cache;
use crate::codec::CodecError;
use crate::entry::Generations;
use crate::error::CacheError;
use crate::generation;
use crate::index::Index;
use crate::inner::Inner;
use crate::key::{CallKeys, KeyParts};
use crate::outcome::Mode;
use crate::payload::Payload;
use crate::read::Read;
use crate::sensitive::Protection;
use crate::site::{CallSite, Site};
use crate::target::Target;
use bytes::Bytes;
use std::time::Duration;

/// The read a write stores its result under: a `#[cached(write_through = true)]`
/// function's site and the key parts of one call, built by the hidden sibling the
/// attribute emits (`__cache_write_through_<name>`).
pub struct Through<O> {
    site: &'static Site,
    parts: KeyParts,
    encode: Encode<O>,
    /// For a read indexed by its result: what the stored part of an output depends on.
    index: Option<IndexOf<O>>,
}

/// What a read's mode stores of an output, encoded (`None`: nothing to store).
type Encode<O> = fn(&O, Payload) -> Option<Result<Vec<u8>, CodecError>>;

/// The read's result tags over the stored part of an output.
type IndexOf<O> = Box<dyn Fn(&O, &mut Index) + Send + Sync>;

impl<O> Through<O> {
    /// The read at `site` with `parts`, its output stored as `mode` stores it.
    pub fn new<M: Mode<Output = O>>(site: &'static Site, parts: KeyParts, _mode: M) -> Self {
        Through {
            site,
            parts,
            encode: encode::<M>,
            index: None,
        }
    }

    /// [`Through::new`] for a read with dependencies from its result: `indexer` lists
    /// them from the stored value, and the value is indexed under them.
    pub fn indexed<M: Mode<Output = O> + 'static>(
        site: &'static Site,
        parts: KeyParts,
        mode: M,
        indexer: fn(&M::Stored, &mut Index),
    ) -> Self {
        let index: IndexOf<O> = Box::new(move |output: &O, index: &mut Index| {
            if let Some(value) = M::stored(output) {
                indexer(value, index);
            }
        });
        Through {
            index: Some(index),
            ..Through::new(site, parts, mode)
        }
    }
}

/// What `M` stores of `output`, encoded.
fn encode<M: Mode>(output: &M::Output, payload: Payload) -> Option<Result<Vec<u8>, CodecError>> {
    M::stored(output).map(|value| payload.encode(value))
}

/// A [`Through`] and the generations (and fences, for an indexed read) its read had
/// before the write's body ran (`None`: they could not be read; the write then only
/// invalidates).
pub struct Captured<O> {
    through: Through<O>,
    read: Option<(CallKeys, Generations, Fences)>,
}

/// The fences of an indexed read and their tokens (empty for another read).
type Fences = (Vec<String>, Vec<Bytes>);

/// The generation a write-through replaces, as an invalidation target (what is parked
/// if the step fails), and what it stores if nothing changed.
pub(crate) struct Rotation {
    pub target: Target,
    pub store: Option<Store>,
}

/// The stored half of a [`Rotation`].
pub(crate) struct Store {
    pub entry: String,
    pub value: Bytes,
    pub ttl: std::time::Duration,
    /// The entry's generation keys, in the order of [`Generations`].
    pub generations: Vec<String>,
    pub expected: Vec<Bytes>,
    /// Which generation is replaced, by `token`.
    pub own: usize,
    pub token: String,
    /// An indexed read's fences, which must not have moved, and the indexes the value is
    /// listed in.
    pub fences: Fences,
    pub indexes: Vec<String>,
}

impl Store {
    /// The generation key this store replaces.
    pub fn own_key(&self) -> &str {
        &self.generations[self.own]
    }
}

/// Reads the generations of `through`'s entry, creating missing ones.
pub(crate) async fn capture<O>(inner: &Inner, through: Through<O>) -> Captured<O> {
    if through.parts.is_invalid() {
        return Captured {
            through,
            read: None,
        };
    }
    let counters = through.site.counters(inner);
    let protection = inner.protection(through.site.prefix, through.site.sensitive);
    if let Protection::Refused | Protection::Disputed = protection {
        // Nothing of the read is cached: the write only invalidates.
        return Captured {
            through,
            read: None,
        };
    }
    let keys = through
        .site
        .keys(&inner.namespace, &protection.parts(&through.parts));
    let generations =
        match crate::read::lookup::lookup(inner, through.site.prefix(), &keys, &counters, false)
            .await
        {
            Read::Hit { generations, .. }
            | Read::Miss(generations)
            | Read::Stale { generations, .. } => generations,
            Read::Bypass => {
                return Captured {
                    through,
                    read: None,
                };
            }
        };
    let fences = match &through.index {
        None => Some(Fences::default()),
        Some(_) => crate::read::fences(inner, &keys, &through.parts, &counters).await,
    };
    let read = fences.map(|fences| (keys, generations, fences));
    Captured { through, read }
}

impl<O> Captured<O> {
    /// The rotation for the write's output `output`: with a store when the generations
    /// were captured and the read's mode stores something of `output`.
    pub(crate) fn rotation(self, cache: &Cache, output: &O) -> Rotation {
        let inner = &cache.inner;
        let site = self.through.site;
        let target = inner
            .targets_of(site.prefix, &self.through.parts)
            .into_iter()
            .next()
            .unwrap_or_else(|| Target::prefix(&inner.namespace, site.prefix));
        let keyring = match inner.protection(site.prefix, site.sensitive) {
            Protection::Sealed(keyring) => Some(keyring),
            _ => None,
        };
        let index = self.through.index;
        // A fail-safe read's entries keep their grace when written through.
        let grace = site.fail_safe.unwrap_or(inner.fail_safe.default);
        let store = self
            .read
            .and_then(|(keys, generations, fences)| {
                let indexes = match &index {
                    None => Vec::new(),
                    Some(index) => {
                        let mut values = Index::default();
                        index(output, &mut values);
                        // A value that did not serialize: not indexed, so not stored.
                        let values = values.values()?;
                        crate::index::index_keys(&keys, values, keyring)
                    }
                };
                let (mut store, sealed) = store(&target, keys, generations)?;
                store.ttl = crate::read::stored_ttl(inner, site, grace);
                store.fences = fences;
                store.indexes = indexes;
                Some((store, sealed))
            })
            .and_then(|(mut store, sealed)| {
                let payload = Payload::entry(inner.codec).kept(grace);
                match (self.through.encode)(output, payload)? {
                    Ok(encoded) => {
                        let encoded = match keyring {
                            None => encoded,
                            Some(keyring) => keyring.seal(&store.entry, &sealed, &encoded)?,
                        };
                        store.value = payload.envelop(&sealed, encoded).0;
                        Some(store)
                    }
                    Err(error) => {
                        let counters = site.counters(inner);
                        inner.count_failure(&counters, "encode", &CacheError::from(error));
                        None
                    }
                }
            });
        Rotation { target, store }
    }
}

/// The store of a rotation of `target`, its value still empty, and the generations the
/// value is sealed with (the captured ones, the replaced one's new token in its place);
/// `None` when `target`'s first generation is not one of the entry's (a target wider than
/// the entry, which is then only invalidated).
fn store(
    target: &Target,
    keys: CallKeys,
    generations: Generations,
) -> Option<(Store, Generations)> {
    let own_key = target.generation_keys().into_iter().next()?;
    let mut all = vec![
        keys.prefix_generation().to_owned(),
        keys.scope_generation().to_owned(),
    ];
    all.extend(keys.tag_generations().iter().cloned());
    let own = all.iter().position(|key| *key == own_key)?;
    let token = generation::fresh();
    let mut sealed = generations.clone();
    let fresh = Bytes::copy_from_slice(token.as_bytes());
    match own {
        0 => sealed.prefix = fresh,
        1 => sealed.scope = fresh,
        tag => *sealed.tags.get_mut(tag - 2)? = fresh,
    }
    let Generations {
        prefix,
        scope,
        tags,
    } = generations;
    let mut expected = vec![prefix, scope];
    expected.extend(tags);
    let store = Store {
        entry: keys.entry().to_owned(),
        value: Bytes::new(),
        ttl: Duration::ZERO,
        generations: all,
        expected,
        own,
        token,
        fences: Fences::default(),
        indexes: Vec::new(),
    };
    Some((store, sealed))
}
