//! Which calls are sensitive, and what that changes ([`keyring`]): a prefix declared
//! sensitive on the builder (`CacheBuilder::sensitive_prefix`, `CACHE_SENSITIVE_PREFIXES`)
//! has its key arguments hashed in every key name, for reads and invalidations alike (so
//! that both name the same keys), and its values sealed. A `#[cached(sensitive = true)]`
//! site whose prefix the cache does not declare, or any sensitive call of a cache without
//! keys, is not cached at all: fail closed, warned once, counted as a bypass.

mod keyring;
mod keys;

pub(crate) use self::keyring::Keyring;
pub use self::keys::EncryptionKeys;

use crate::key::KeyParts;
use crate::stats::Counters;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// A cache's sensitive prefixes and its keys.
#[derive(Default)]
pub(crate) struct Sensitive {
    prefixes: HashSet<String>,
    keyring: Option<Arc<Keyring>>,
    warned: AtomicBool,
    /// Prefixes a `sensitive = true` site of this process reads although the cache does
    /// not declare them: their invalidations here are whole, since other processes may
    /// declare them and write hashed names this one cannot.
    undeclared: RwLock<HashSet<String>>,
    any_undeclared: AtomicBool,
}

/// How one call's keys and value are written.
pub(crate) enum Protection<'a> {
    /// As always.
    Plain,
    /// Key arguments hashed, value sealed.
    Sealed(&'a Keyring),
    /// Not cached: sensitive, and this cache cannot protect it.
    Refused,
    /// Not cached: its key names are in dispute with the fleet ([`crate::fleet`]), which
    /// logged why.
    Disputed,
}

impl Sensitive {
    pub fn new(prefixes: HashSet<String>, keyring: Option<Arc<Keyring>>) -> Sensitive {
        Sensitive {
            prefixes,
            keyring,
            warned: AtomicBool::new(false),
            undeclared: RwLock::default(),
            any_undeclared: AtomicBool::new(false),
        }
    }

    /// A sensitive site of `prefix`, which this cache does not declare, was called.
    fn note_undeclared(&self, prefix: &str) {
        if self.is_undeclared(prefix) {
            return;
        }
        let mut undeclared = self.undeclared.write().unwrap_or_else(|e| e.into_inner());
        undeclared.insert(prefix.to_owned());
        self.any_undeclared.store(true, Ordering::Release);
    }

    /// Whether a sensitive site of `prefix` was called here, the prefix undeclared.
    fn is_undeclared(&self, prefix: &str) -> bool {
        self.any_undeclared.load(Ordering::Acquire)
            && self
                .undeclared
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(prefix)
    }

    /// Whether `prefix` is declared sensitive.
    pub fn covers(&self, prefix: &str) -> bool {
        !self.prefixes.is_empty() && self.prefixes.contains(prefix)
    }
}

impl Sensitive {
    /// The protection of a call of `prefix` at a site that says it is sensitive or not
    /// (the fleet's disputes aside: see `Inner::protection`).
    pub(crate) fn protection(&self, prefix: &str, site_says: bool) -> Protection<'_> {
        let declared = self.covers(prefix);
        if !declared && !site_says {
            return Protection::Plain;
        }
        if !declared {
            self.note_undeclared(prefix);
        }
        match (&self.keyring, declared) {
            (Some(keyring), true) => Protection::Sealed(keyring),
            _ => Protection::Refused,
        }
    }

    /// Counts and (once) explains a sensitive call that is not cached.
    pub(crate) fn refuse(&self, prefix: &str, counters: &Counters) {
        counters.bypass();
        if !self.warned.swap(true, Ordering::Relaxed) {
            let why = match self.keyring {
                None => {
                    "no encryption key is configured (CACHE_ENCRYPTION_KEYS, CacheBuilder::encryption_keys, and the `encryption` feature)"
                }
                Some(_) => {
                    "its prefix is not declared sensitive to the cache (CacheBuilder::sensitive_prefix or CACHE_SENSITIVE_PREFIXES), so invalidations would not name the same keys"
                }
            };
            tracing::warn!(
                prefix,
                "cache: a sensitive site is not cached: {why}; it runs uncached rather than store plaintext"
            );
        }
    }

    /// How the key arguments of `prefix` are written in key names: as given, hashed with
    /// the naming key, or not at all (a sensitive prefix of a cache without keys, or one a
    /// `sensitive = true` site of this process reads undeclared: invalidations are then
    /// whole, since other processes may write names this one cannot).
    pub(crate) fn naming(&self, prefix: &str) -> Naming<'_> {
        if !self.covers(prefix) {
            return match self.is_undeclared(prefix) {
                true => Naming::Unknown,
                false => Naming::Plain,
            };
        }
        match &self.keyring {
            Some(keyring) => Naming::Hashed(keyring),
            None => Naming::Unknown,
        }
    }
}

/// How the key arguments of a prefix are written in key names ([`Sensitive::naming`]).
pub(crate) enum Naming<'a> {
    /// As given.
    Plain,
    /// Each as its keyed hash.
    Hashed(&'a Keyring),
    /// Not known here: only a whole invalidation reaches them.
    Unknown,
}

impl Protection<'_> {
    /// The key parts a call is written with: its own, or for a sealed call, each key
    /// argument as its keyed hash.
    pub(crate) fn parts<'p>(&self, parts: &'p KeyParts) -> Cow<'p, KeyParts> {
        match self {
            Protection::Sealed(keyring) => {
                Cow::Owned(parts.hashed(|component| keyring.hash_component(component)))
            }
            _ => Cow::Borrowed(parts),
        }
    }
}
