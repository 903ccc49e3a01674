//! [`KeyParts`]: the encoded key components of one call, as the generated code builds them.

use super::{NO_SCOPE, push_value_component};
use serde::Serialize;

/// The key components of one call: its scope and its other key arguments, encoded.
///
/// Built by the code that `#[cached]` generates (through `__private`), one call each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyParts {
    scope: Option<String>,
    args: String,
    /// Tag names and their encoded values (`None`: every value).
    tags: Vec<(&'static str, Option<String>)>,
    /// Tags whose values come from the result (`#[cached]` only): indexed after the load.
    result_tags: Vec<&'static str>,
    invalid: bool,
}

impl KeyParts {
    /// Starts an empty set of key parts (no scope, no arguments).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the scope (the `key = ...` argument).
    pub fn scope<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        let mut encoded = String::with_capacity(24);
        self.invalid |= push_value_component(&mut encoded, value).is_err();
        self.scope = Some(encoded);
        self
    }

    /// Appends one more key argument.
    pub fn arg<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        self.args.push(':');
        self.invalid |= push_value_component(&mut self.args, value).is_err();
        self
    }

    /// Adds a tag: a further dimension the entry depends on (`tag(status = ...)`). A value
    /// that serializes to `null` (`None`) stands for every value of the tag.
    pub fn tag<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> &mut Self {
        let mut encoded = String::new();
        self.invalid |= push_value_component(&mut encoded, value).is_err();
        let value = (encoded != "~null").then_some(encoded);
        self.tags.push((name, value));
        self
    }

    /// Declares a tag whose values come from the cached value (`tag(item = |page| ...)`):
    /// the entry is indexed under each of them when it is filled.
    pub fn result_tag(&mut self, name: &'static str) -> &mut Self {
        self.result_tags.push(name);
        self
    }

    /// The tags whose values come from the result.
    pub fn result_tags(&self) -> &[&'static str] {
        &self.result_tags
    }

    /// The tags, names and encoded values (`None`: every value).
    pub fn tags(&self) -> &[(&'static str, Option<String>)] {
        &self.tags
    }

    /// The encoded scope, `!` when there is none.
    pub fn scope_component(&self) -> &str {
        self.scope.as_deref().unwrap_or(NO_SCOPE)
    }

    /// The encoded scope, if one was set.
    pub fn scope_component_if_set(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Whether a value failed to serialize (the call then bypasses the cache).
    pub fn is_invalid(&self) -> bool {
        self.invalid
    }

    pub(crate) fn args(&self) -> &str {
        &self.args
    }

    /// These parts with every key argument (the scope, the other arguments taken together,
    /// each tag value) replaced by `hash` of its encoding; "every value" of a tag stays.
    pub(crate) fn hashed(&self, hash: impl Fn(&str) -> String) -> KeyParts {
        KeyParts {
            scope: self.scope.as_deref().map(&hash),
            args: match self.args.is_empty() {
                true => String::new(),
                false => format!(":{}", hash(&self.args)),
            },
            tags: self
                .tags
                .iter()
                .map(|(name, value)| (*name, value.as_deref().map(&hash)))
                .collect(),
            result_tags: self.result_tags.clone(),
            invalid: self.invalid,
        }
    }
}
