//! Which calls are sensitive, and what that changes ([`crate::seal`]): a prefix declared
//! sensitive on the builder (`CacheBuilder::sensitive_prefix`, `CACHE_SENSITIVE_PREFIXES`)
//! has its key arguments hashed in every key name, for reads and invalidations alike (so
//! that both name the same keys), and its values sealed. A `#[cached(sensitive = true)]`
//! site whose prefix the cache does not declare, or any sensitive call of a cache without
//! keys, is not cached at all: fail closed, warned once, counted as a bypass.

use crate::inner::Inner;
use crate::key::KeyParts;
use crate::seal::Keyring;
use crate::stats::Counters;
use crate::target::Target;
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

impl Inner {
    /// The protection of a call of `prefix` at a site that says it is sensitive or not.
    pub(crate) fn protection(&self, prefix: &str, site_says: bool) -> Protection<'_> {
        if self.fleet_refuses(prefix) {
            return Protection::Disputed;
        }
        let declared = self.sensitive.covers(prefix);
        if !declared && !site_says {
            return Protection::Plain;
        }
        if !declared {
            self.sensitive.note_undeclared(prefix);
        }
        match (&self.sensitive.keyring, declared) {
            (Some(keyring), true) => Protection::Sealed(keyring),
            _ => Protection::Refused,
        }
    }

    /// Counts and (once) explains a sensitive call that is not cached.
    pub(crate) fn refuse_sensitive(&self, prefix: &str, counters: &Counters) {
        counters.bypass();
        if !self.sensitive.warned.swap(true, Ordering::Relaxed) {
            let why = match self.sensitive.keyring {
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

    /// The key parts a call of `prefix` is written with: its own, or for a sensitive
    /// prefix, each key argument as its keyed hash.
    pub(crate) fn parts_for<'a>(
        &self,
        protection: &Protection<'_>,
        parts: &'a KeyParts,
    ) -> Cow<'a, KeyParts> {
        match protection {
            Protection::Sealed(keyring) => {
                Cow::Owned(parts.hashed(|component| keyring.hash_component(component)))
            }
            _ => Cow::Borrowed(parts),
        }
    }

    /// Whether the fleet's manifests put `prefix` in dispute here ([`crate::fleet`]): its
    /// calls are then not cached, and its invalidations are whole. One atomic load when
    /// nothing is.
    pub(crate) fn fleet_refuses(&self, prefix: &str) -> bool {
        self.fleet
            .as_ref()
            .is_some_and(|fleet| fleet.refuses(prefix, || self.sensitive.covers(prefix)))
    }

    /// Notes, for the fleet's manifests, that this cache reads or invalidates `prefix`.
    pub(crate) fn note_use(&self, prefix: &str) {
        if let Some(fleet) = &self.fleet {
            fleet.note_use(prefix);
        }
    }

    /// The invalidation targets of `parts` in `prefix` (see [`Target::of_parts`]), their
    /// key arguments hashed for a sensitive prefix; a sensitive prefix of a cache without
    /// keys, or a prefix in dispute with the fleet, is invalidated whole (coarser, never
    /// weaker: another process may hold entries under names this one cannot write).
    pub(crate) fn targets_of(&self, prefix: &str, parts: &KeyParts) -> Vec<Target> {
        self.note_use(prefix);
        if self.fleet_refuses(prefix) {
            return vec![Target::prefix(&self.namespace, prefix)];
        }
        if !self.sensitive.covers(prefix) {
            if self.sensitive.is_undeclared(prefix) {
                return vec![Target::prefix(&self.namespace, prefix)];
            }
            return Target::of_parts(&self.namespace, prefix, parts);
        }
        match &self.sensitive.keyring {
            Some(keyring) => {
                let hashed = parts.hashed(|component| keyring.hash_component(component));
                Target::of_parts(&self.namespace, prefix, &hashed)
            }
            None => vec![Target::prefix(&self.namespace, prefix)],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::key::KeyParts;
    use crate::target::Target;

    /// A process whose `sensitive = true` site reads a prefix it does not declare cannot
    /// write the hashed names its peers may: once it has, its invalidations of the prefix
    /// are whole (what reaches them whatever their names).
    #[test]
    fn a_sensitive_site_on_an_undeclared_prefix_makes_its_invalidations_whole() {
        let cache = crate::Cache::builder()
            .memory()
            .encryption_keys(crate::EncryptionKeys::new().with_key("k1", [1; 32]))
            .build_memory();
        let inner = &cache.inner;
        let mut parts = KeyParts::new();
        parts.scope("acme");
        let narrow = inner.targets_of("session", &parts);
        assert_eq!(narrow, [Target::scope("", "session", "acme")]);
        assert!(matches!(
            inner.protection("session", true),
            super::Protection::Refused
        ));
        assert_eq!(
            inner.targets_of("session", &parts),
            [Target::prefix("", "session")]
        );
        assert_eq!(
            inner.targets_of("fmpa", &parts),
            [Target::scope("", "fmpa", "acme")],
            "other prefixes stay narrow"
        );
    }
}
