//! What an invalidation targets: one (prefix, scope), or a whole prefix. Built once,
//! from the attribute's key parts or the public API's arguments, and carried as it is
//! through the invalidation, the pending table and its retries.

use crate::key::{self, KeyParts};

/// What one invalidation removes: the generation of one (prefix, scope), or of a whole
/// prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    namespace: String,
    prefix: String,
    /// The encoded scope; `None` for the whole prefix.
    scope: Option<String>,
    /// The scope's generation key, or the prefix's marker: the name in the pending table
    /// that reads check.
    key: String,
}

impl Target {
    /// One scope of `prefix`; `scope` is an encoded key component.
    pub fn scope(namespace: &str, prefix: &str, scope: &str) -> Target {
        Target {
            namespace: namespace.to_owned(),
            prefix: prefix.to_owned(),
            scope: Some(scope.to_owned()),
            key: key::scope_generation_key(namespace, prefix, scope),
        }
    }

    /// Every scope of `prefix`.
    pub fn prefix(namespace: &str, prefix: &str) -> Target {
        Target {
            namespace: namespace.to_owned(),
            prefix: prefix.to_owned(),
            scope: None,
            key: key::prefix_marker(namespace, prefix),
        }
    }

    /// The scope of `parts` in `prefix`; the whole prefix when `parts` has no scope, or a
    /// scope that did not encode (coarser, never weaker).
    pub fn of_parts(namespace: &str, prefix: &str, parts: &KeyParts) -> Target {
        match parts.scope_component_if_set() {
            Some(scope) if !parts.is_invalid() => Target::scope(namespace, prefix, scope),
            _ => Target::prefix(namespace, prefix),
        }
    }

    /// The name under which this target is parked and checked by reads.
    pub fn pending_key(&self) -> &str {
        &self.key
    }

    /// Whether this is one scope (its keys are in one slot), not a whole prefix.
    pub fn is_scope(&self) -> bool {
        self.scope.is_some()
    }

    /// The prefix this target belongs to (for its counters).
    pub fn prefix_name(&self) -> &str {
        &self.prefix
    }

    /// The whole prefix of this target.
    pub fn widened(self) -> Target {
        match self.scope {
            Some(_) => Target::prefix(&self.namespace, &self.prefix),
            None => self,
        }
    }

    /// The generation keys this target removes.
    pub fn generation_keys(&self) -> Vec<String> {
        match self.scope {
            Some(_) => vec![self.key.clone()],
            None => key::prefix_generation_keys(&self.namespace, &self.prefix),
        }
    }
}
