//! Which calls are sensitive, and what that changes ([`keyring`]): a prefix declared
//! sensitive on the builder (`CacheBuilder::sensitive_prefix`, `CACHE_SENSITIVE_PREFIXES`)
//! has its key arguments hashed in every key name, for reads and invalidations alike (so
//! that both name the same keys), and its values sealed. A `#[cached(sensitive = true)]`
//! site whose prefix the cache does not declare, or any sensitive call of a cache without
//! keys, is not cached at all: fail closed, warned once, counted as a bypass.
//!
//! How: the values of sensitive sites sealed with an AEAD, and their
//! key arguments written in key names as a keyed hash.
//!
//! - **Sealing**: XChaCha20-Poly1305, a fresh random 24-byte nonce per entry (random
//!   nonces of that size never realistically repeat). The associated data is the entry's
//!   full key and the generation tokens the value is stored under ([`aead`]): an
//!   entry copied under another key (another tenant's) fails to open, and so does an old
//!   sealed body spliced under the header of the current entry (a revoked session under
//!   today's generations), since its tokens are not the current ones. The
//!   construction of draft-irtf-cfrg-xchacha: HChaCha20 (RustCrypto's `chacha20`) derives
//!   a key per nonce from its first 16 bytes, and ring's ChaCha20-Poly1305 (assembly,
//!   twice RustCrypto's speed here) seals with the last 8; a test checks that RustCrypto's
//!   `XChaCha20Poly1305` opens what this seals, and the other way round.
//!   Sealed bytes: `T` (the version: `S` bound the key alone), the key id's length and the
//!   id, the nonce, the ciphertext and its tag. Anything that does not open (another key,
//!   a retired key, other generations, a flipped byte, a truncation, the older `S`) is a
//!   counted miss, refilled by the next load.
//! - **Keys**: [`EncryptionKeys`], `id:base64` pairs; the first seals, all open, so a
//!   rotation adds a key in front and retires old ones later. Never logged.
//! - **Key names**: each key argument (scope, arguments, tag values) of a sensitive
//!   prefix is written `~h` + 32 hex digits of HMAC-SHA256, keyed by a key derived from
//!   the *naming key*: the one given as such ([`EncryptionKeys::with_naming_key`],
//!   `CACHE_NAMING_KEY`), else the last (oldest) of the keys. Every process of a
//!   namespace must name alike, or one's invalidations miss the other's entries: the
//!   naming key never changes with a rotation. Adding a key in front keeps the last one;
//!   retiring the last one means keeping it as the naming key (it then names, and no
//!   longer opens anything). Its fingerprint ([`Keyring::fingerprint`]) is published in
//!   the fleet's manifests ([`crate::fleet`]), so a process that names otherwise than its
//!   live peers is told, and refuses its sensitive prefixes rather than split the fleet.

mod aead;
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
    /// The prefixes the builder declared sensitive, sorted.
    pub(crate) fn declared(&self) -> Vec<String> {
        let mut prefixes: Vec<String> = self.prefixes.iter().cloned().collect();
        prefixes.sort();
        prefixes
    }

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
