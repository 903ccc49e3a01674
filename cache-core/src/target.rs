//! What an invalidation targets: one (prefix, scope), a whole prefix, or one tag value in
//! either. Built once, from the attribute's key parts or the public API's arguments, and
//! carried as it is through the invalidation, the pending table and its retries.

use crate::key::{self, KeyParts};
use crate::sensitive::Naming;

/// What one invalidation removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    namespace: String,
    prefix: String,
    /// The encoded scope; `None` for every scope of the prefix.
    scope: Option<String>,
    /// A tag name and its encoded value: only the entries of that value (and those of
    /// every value) go. `None`: every entry of the scope or prefix.
    tag: Option<(String, String)>,
    /// The scope's generation key, or the prefix's marker: the name in the pending table
    /// that reads check (a tag target is parked as its scope or prefix).
    key: String,
}

impl Target {
    /// One scope of `prefix`; `scope` is an encoded key component.
    pub fn scope(namespace: &str, prefix: &str, scope: &str) -> Target {
        Target {
            namespace: namespace.to_owned(),
            prefix: prefix.to_owned(),
            scope: Some(scope.to_owned()),
            tag: None,
            key: key::scope_generation_key(namespace, prefix, scope),
        }
    }

    /// Every scope of `prefix`.
    pub fn prefix(namespace: &str, prefix: &str) -> Target {
        Target {
            namespace: namespace.to_owned(),
            prefix: prefix.to_owned(),
            scope: None,
            tag: None,
            key: key::prefix_marker(namespace, prefix),
        }
    }

    /// The entries of `prefix` whose tag `tag` has the encoded value `value` (or every
    /// value), in one scope or, with `scope` `None`, in every scope.
    fn tagged(
        namespace: &str,
        prefix: &str,
        scope: Option<&str>,
        tag: &str,
        value: &str,
    ) -> Target {
        let whole = match scope {
            Some(scope) => Target::scope(namespace, prefix, scope),
            None => Target::prefix(namespace, prefix),
        };
        Target {
            tag: Some((tag.to_owned(), value.to_owned())),
            ..whole
        }
    }

    /// What `parts` invalidates in `prefix`: each of its tag values, in its scope or (no
    /// scope) in every scope; without tags, the scope or the whole prefix. A scope or a
    /// tag value that did not encode, or a tag without a value (`None`), widens to the
    /// scope or the prefix (coarser, never weaker).
    pub fn of_parts(namespace: &str, prefix: &str, parts: &KeyParts) -> Vec<Target> {
        let scope = match parts.scope_component_if_set() {
            Some(_) if parts.is_invalid() => {
                return vec![Target::prefix(namespace, prefix)];
            }
            scope => scope,
        };
        let whole = || match scope {
            Some(scope) => Target::scope(namespace, prefix, scope),
            None => Target::prefix(namespace, prefix),
        };
        if parts.is_invalid() || parts.tags().iter().any(|(_, value)| value.is_none()) {
            return vec![whole()];
        }
        if parts.tags().is_empty() {
            return vec![whole()];
        }
        parts
            .tags()
            .iter()
            .filter_map(|(tag, value)| {
                let value = value.as_deref()?;
                Some(Target::tagged(namespace, prefix, scope, tag, value))
            })
            .collect()
    }

    /// The name under which this target is parked and checked by reads.
    /// The targets of `parts` in `prefix` ([`Target::of_parts`]), named as the prefix's
    /// keys are named here: plainly, hashed for a sensitive prefix, or (names unknown here)
    /// the whole prefix: coarser, never weaker, since another process may hold entries
    /// under names this one cannot write.
    pub fn named(
        namespace: &str,
        prefix: &str,
        parts: &KeyParts,
        naming: Naming<'_>,
    ) -> Vec<Target> {
        match naming {
            Naming::Plain => Target::of_parts(namespace, prefix, parts),
            Naming::Hashed(keyring) => {
                let hashed = parts.hashed(|component| keyring.hash_component(component));
                Target::of_parts(namespace, prefix, &hashed)
            }
            Naming::Unknown => vec![Target::prefix(namespace, prefix)],
        }
    }

    pub fn pending_key(&self) -> &str {
        &self.key
    }

    /// Whether this target's keys are in one slot (one scope), not spread over the
    /// buckets of a prefix.
    pub fn is_scope(&self) -> bool {
        self.scope.is_some()
    }

    /// The prefix this target belongs to (for its counters).
    pub fn prefix_name(&self) -> &str {
        &self.prefix
    }

    /// What is parked when this target did not land: a tag value as its whole scope or
    /// prefix, so that reads need check no more than today (coarser, never weaker).
    pub fn for_pending(self) -> Target {
        Target { tag: None, ..self }
    }

    /// Whether this target removes every entry `other` does, and more or as much: the
    /// same prefix, no tag, and every scope or `other`'s.
    pub fn covers(&self, other: &Target) -> bool {
        self.namespace == other.namespace
            && self.prefix == other.prefix
            && self.tag.is_none()
            && (self.scope.is_none() || self.scope == other.scope)
    }

    /// The whole prefix of this target.
    pub fn widened(self) -> Target {
        match (&self.scope, &self.tag) {
            (None, None) => self,
            _ => Target::prefix(&self.namespace, &self.prefix),
        }
    }

    /// For a tag value: the keys its removal takes in groups, one per slot (the scope's,
    /// or each bucket's): the value's generation and that of every value, the fence of
    /// the tag's result index and the value's index ([`crate::key`]), whose entries go too.
    pub fn index_groups(&self) -> Option<Vec<[String; 4]>> {
        let (ns, prefix) = (&self.namespace, &self.prefix);
        let (tag, value) = self.tag.as_ref()?;
        let group = |base: &str, generation: String, any: String| {
            [
                generation,
                any,
                key::index_key(base, tag, None),
                key::index_key(base, tag, Some(value)),
            ]
        };
        Some(match &self.scope {
            Some(scope) => vec![group(
                &self.key,
                key::scope_tag_key(ns, prefix, scope, tag, Some(value)),
                key::scope_tag_key(ns, prefix, scope, tag, None),
            )],
            None => key::prefix_generation_keys(ns, prefix)
                .iter()
                .zip(key::prefix_tag_keys(ns, prefix, tag, Some(value)))
                .zip(key::prefix_tag_keys(ns, prefix, tag, None))
                .map(|((base, generation), any)| group(base, generation, any))
                .collect(),
        })
    }

    /// The generation keys this target removes: for a tag value, its generation and that
    /// of every value (entries that depend on the whole tag), in the scope or in each
    /// bucket's copy.
    pub fn generation_keys(&self) -> Vec<String> {
        let (ns, prefix) = (&self.namespace, &self.prefix);
        match (&self.scope, &self.tag) {
            (Some(_), None) => vec![self.key.clone()],
            (None, None) => key::prefix_generation_keys(ns, prefix),
            (Some(scope), Some((tag, value))) => vec![
                key::scope_tag_key(ns, prefix, scope, tag, Some(value)),
                key::scope_tag_key(ns, prefix, scope, tag, None),
            ],
            (None, Some((tag, value))) => {
                let mut keys = key::prefix_tag_keys(ns, prefix, tag, Some(value));
                keys.extend(key::prefix_tag_keys(ns, prefix, tag, None));
                keys
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Target;
    use crate::key::KeyParts;

    #[test]
    fn parts_make_the_narrowest_target_that_covers_them() {
        let mut scoped = KeyParts::new();
        scoped.scope("acme");
        assert_eq!(
            Target::of_parts("ns", "fmpa", &scoped),
            [Target::scope("ns", "fmpa", "acme")]
        );
        assert_eq!(
            Target::of_parts("ns", "fmpa", &KeyParts::new()),
            [Target::prefix("ns", "fmpa")]
        );
        let mut tagged = KeyParts::new();
        tagged.scope("acme").tag("item", &42).tag("status", &"open");
        let targets = Target::of_parts("ns", "fmpa", &tagged);
        assert_eq!(targets.len(), 2);
        assert!(targets.iter().all(Target::is_scope));
        assert_eq!(targets[0].generation_keys().len(), 2);
        assert_eq!(
            targets[0].clone().for_pending(),
            Target::scope("ns", "fmpa", "acme")
        );
        let mut everywhere = KeyParts::new();
        everywhere.tag("item", &42);
        let targets = Target::of_parts("ns", "fmpa", &everywhere);
        assert!(!targets[0].is_scope());
        assert_eq!(targets[0].generation_keys().len(), 2048);
        assert_eq!(
            targets[0].clone().for_pending(),
            Target::prefix("ns", "fmpa")
        );
        // A tag without a value stands for every value: the whole scope.
        let mut any = KeyParts::new();
        any.scope("acme").tag("item", &None::<u32>);
        assert_eq!(
            Target::of_parts("ns", "fmpa", &any),
            [Target::scope("ns", "fmpa", "acme")]
        );
    }

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
            crate::sensitive::Protection::Refused
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
