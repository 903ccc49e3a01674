//! Key encoding: how a call's identity becomes a Redis key.
//!
//! # Format, version `c4`
//!
//! ```text
//! entry                <ns>:c4:{<prefix>:<bucket>}:<scope>:<name>:<version>:<arg>:<arg>…
//! refresh claim        <entry>:!refresh                                     refresh = ...
//! lease                <entry>:!lease:<16 hex digits>                        lease = ...
//! scope generation     <ns>:c4:{<prefix>:<bucket>}:<scope>
//! prefix generation    <ns>:c4:{<prefix>:<bucket>}
//! scope tag generation <ns>:c4:{<prefix>:<bucket>}:<scope>:!<tag>=<value>   one value
//!                      <ns>:c4:{<prefix>:<bucket>}:<scope>:!<tag>           any value
//! prefix tag generation <ns>:c4:{<prefix>:<bucket>}!<tag>=<value>           one value
//!                      <ns>:c4:{<prefix>:<bucket>}!<tag>                   any value
//! ```
//!
//! Index of dependencies from the result (`tag(item = |page| ...)` on `#[cached]`), in the
//! scope and in the scope's bucket (for invalidations across every scope):
//!
//! ```text
//! fence                <ns>:c4:{<prefix>:<bucket>}:<scope>:!<tag>#          read before a load
//!                      <ns>:c4:{<prefix>:<bucket>}!<tag>#
//! index of a value     <ns>:c4:{<prefix>:<bucket>}:<scope>:!<tag>#=<value>  a set of entry keys
//!                      <ns>:c4:{<prefix>:<bucket>}!<tag>#=<value>
//! ```
//!
//! Invalidating a value removes the fence and the entries the value's index lists (in the
//! scope, or in every bucket); a fill whose load was under way when a fence went stores
//! nothing. `#` cannot appear in an escaped tag name, so these keys differ from the tag
//! generations.
//!
//! Tags (`tag(status = ...)`) are further dimensions an entry depends on. An entry with
//! tag value `v` is checked against the scope's and the prefix's generation of `v`; an
//! entry whose value is `None` ("every value") against the generations of any value.
//! Invalidating `v` removes the generation of `v` and that of any value, in the scope (two
//! keys, one slot) or, across every scope, in each of the [`BUCKETS`] copies of the
//! prefix's. A tag name is an identifier (letters, digits, `_`; any other byte is written
//! `%XX`), so the first `=` ends it; the `!` after the scope or after the brace cannot
//! start a component (`!` is escaped inside components), so no tag key equals an entry,
//! a generation or another tag's key. Format `c2` had no tags; `c3` wrote structs and
//! sequences as escaped JSON (`~%7B"page"%3A1%7D`).
//!
//! - `<ns>:` is the cache's namespace ([`crate::CacheBuilder::namespace`]); it is left out,
//!   with its colon, when the namespace is empty.
//! - `c4` is the version of this format. A change to the layout or to the component
//!   encoding bumps it, so that old and new entries never read each other.
//! - `<prefix>` is the attribute's `prefix`, `<name>` the function's name (or `name = ...`),
//!   `<version>` the attribute's `version` in decimal (0 by default), `<scope>` the value of
//!   the `key = ...` argument, or `!` for a function without one, and each `<arg>` one
//!   further key argument, in the order written.
//! - `<bucket>` is three lower-case hex digits, `000` to `3ff`: [`bucket`] of the prefix
//!   and the encoded scope, one of [`BUCKETS`].
//! - The braces are a Redis Cluster hash tag: every key of one (prefix, scope), its
//!   entries, its generation *and the copy of the prefix generation it is checked
//!   against*, lands in one slot, so a hit reads all three with one single-slot `MGET`.
//!   The prefix generation has one copy per bucket: [`crate::Cache::invalidate_all`]
//!   removes the [`BUCKETS`] copies (a constant cost, whatever the number of entries), and
//!   no slot is read by every hit of a prefix: the traffic of a slot is the traffic of
//!   the scopes that hash to it. (Format `c1` had one prefix generation key, in a slot of
//!   its own that every hit of the prefix read.)
//!
//! # Components
//!
//! Every component (prefix, name, scope, argument) is encoded so that the whole key can be
//! split back into its components, which makes the encoding injective: two different
//! argument tuples never give the same key.
//!
//! - A value that serializes (serde) to a JSON string is written as the string itself; a
//!   number, a boolean or `null` as `~` followed by its JSON text (`~42`, `~true`,
//!   `~null`), so the string `"42"` and the number `42` differ; a struct or a map as
//!   `(field=value,…)` and a sequence as `<value,…>`, in serialization order, each value
//!   written by the same rules (`(status=OPEN,page=~1,search=~null)`; an empty string in
//!   them as `~""`, so that `<~"">` is not `<>`), readable in
//!   `redis-cli`. (A struct or sequence holding a number of 16 digits or more is written
//!   as `~` and its escaped JSON text instead, which a float could not keep exactly.) Two values with the
//!   same JSON (a unit enum variant `Newest` and the string `"Newest"`) are one key: the
//!   key identifies what the arguments serialize to.
//! - The bytes `%`, `:`, `{`, `}`, `*`, `?`, `[`, `]`, `\`, `~`, `#`, `!`, `(`, `)`, `<`,
//!   `>`, `,`, `=`, space, ASCII control characters and DEL are written as `%XX`
//!   (upper-case hex). Everything else,
//!   including non-ASCII Unicode, stays as it is, so short keys read well in `redis-cli`.
//!   No component therefore contains a separator, a brace or a glob character.
//! - An encoded component longer than [`MAX_COMPONENT_LEN`] bytes is replaced by `#`
//!   followed by 32 hex digits: the first 128 bits of the SHA-256 of the encoded component.
//!   A key is therefore bounded in length by the number of its components.
//! - `!` alone stands for "no scope". Since `~`, `#` and `!` are escaped inside
//!   components, none of these markers can be produced by a value.

use std::fmt::Write as _;

mod beside;
mod component;
mod parse;
mod parts;

pub(crate) use self::beside::{lease_key, refresh_key};
pub use self::component::component;
pub(crate) use self::component::{push_str_component, push_value_component};
pub use self::parse::{Call, Component, KeyKind, ParsedKey, parse};
pub use self::parts::KeyParts;

/// The version of the key format, written into every key.
pub const FORMAT: &str = "c4";

/// The longest encoded component kept readable; longer ones are hashed.
pub const MAX_COMPONENT_LEN: usize = 96;

/// How many buckets the scopes of a prefix are spread over, each with its own copy of the
/// prefix generation.
pub const BUCKETS: u16 = 1024;

/// The bucket of a scope within a prefix: FNV-1a (32 bits) of `<prefix>:<scope>` (the
/// prefix as given, the scope encoded), modulo [`BUCKETS`]. The prefix takes part so that
/// two tenants sharing a bucket in one prefix do not share it in every prefix. Part of the
/// key format: it never changes within one format version.
pub fn bucket(prefix: &str, scope: &str) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in prefix.bytes().chain([b':']).chain(scope.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % u32::from(BUCKETS)) as u16
}

/// The scope component of a function that has no `key = ...` argument.
pub(crate) const NO_SCOPE: &str = "!";

/// The keys one cached call touches: the entry and its two generations in one buffer (one
/// allocation per call; each generation key is a prefix of the entry's key), and the
/// generations of its tags, if any (two per tag: the scope's, the prefix's copy).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallKeys {
    buf: String,
    prefix_end: usize,
    scope_end: usize,
    tags: Vec<String>,
}

impl CallKeys {
    /// The entry itself.
    pub fn entry(&self) -> &str {
        &self.buf
    }

    /// The generation of the (prefix, scope) pair (`invalidate`).
    pub fn scope_generation(&self) -> &str {
        &self.buf[..self.scope_end]
    }

    /// The copy of the prefix generation (`invalidate_all`) in this scope's bucket.
    pub fn prefix_generation(&self) -> &str {
        &self.buf[..self.prefix_end]
    }

    /// The generations of the call's tags, two per tag in the order written: the scope's
    /// generation of the value (or of any value), then the prefix's copy in this bucket.
    pub fn tag_generations(&self) -> &[String] {
        &self.tags
    }

    /// Whether these are the keys of a plain user key (`get_or_set`): no generations,
    /// plain JSON.
    pub fn is_plain(&self) -> bool {
        self.scope_end == 0
    }

    /// A plain user key, without generations (both generation keys are empty).
    pub(crate) fn plain(entry: String) -> CallKeys {
        CallKeys {
            buf: entry,
            prefix_end: 0,
            scope_end: 0,
            tags: Vec::new(),
        }
    }
}

/// Writes `<ns>:c4:` (or `c4:` for an empty namespace).
fn push_root(out: &mut String, namespace: &str) {
    if !namespace.is_empty() {
        out.push_str(namespace);
        out.push(':');
    }
    out.push_str(FORMAT);
    out.push(':');
}

/// Writes `<ns>:c4:{<prefix>:<bucket>}`.
fn push_tag(out: &mut String, namespace: &str, prefix: &str, bucket: u16) {
    push_root(out, namespace);
    out.push('{');
    push_str_component(out, prefix);
    out.push(':');
    for shift in [8, 4, 0] {
        out.push(char::from(
            b"0123456789abcdef"[usize::from((bucket >> shift) & 0xf)],
        ));
    }
    out.push('}');
}

/// The keys of every copy of a prefix's generation, one per bucket
/// (`invalidate_all` removes them all).
pub fn prefix_generation_keys(namespace: &str, prefix: &str) -> Vec<String> {
    (0..BUCKETS)
        .map(|bucket| bucket_key(namespace, prefix, bucket))
        .collect()
}

/// The key of one bucket's copy of the prefix generation, `<ns>:c4:{<prefix>:<bucket>}`.
pub(crate) fn bucket_key(namespace: &str, prefix: &str, bucket: u16) -> String {
    let mut out = String::with_capacity(namespace.len() + prefix.len() + 12);
    push_tag(&mut out, namespace, prefix, bucket);
    out
}

/// The name under which a pending `invalidate_all` of `prefix` is remembered:
/// `<ns>:c4:{<prefix>:*}`, which no key of the format can equal (a bucket is hex digits).
pub(crate) fn prefix_marker(namespace: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(namespace.len() + prefix.len() + 10);
    push_root(&mut out, namespace);
    out.push('{');
    push_str_component(&mut out, prefix);
    out.push_str(":*}");
    out
}

/// The key of a (prefix, scope) generation, `scope` being an encoded component.
pub fn scope_generation_key(namespace: &str, prefix: &str, scope: &str) -> String {
    let mut out = String::with_capacity(namespace.len() + prefix.len() + scope.len() + 13);
    push_tag(&mut out, namespace, prefix, bucket(prefix, scope));
    out.push(':');
    out.push_str(scope);
    out
}

/// All keys of one call of a cached function.
pub fn call_keys(
    namespace: &str,
    prefix: &str,
    name: &str,
    version: u32,
    parts: &KeyParts,
) -> CallKeys {
    let scope = parts.scope_component();
    let mut buf = String::with_capacity(
        namespace.len() + prefix.len() + scope.len() + name.len() + parts.args().len() + 24,
    );
    push_tag(&mut buf, namespace, prefix, bucket(prefix, scope));
    let prefix_end = buf.len();
    buf.push(':');
    buf.push_str(scope);
    let scope_end = buf.len();
    buf.push(':');
    push_str_component(&mut buf, name);
    match version {
        0 => buf.push_str(":0"),
        _ => {
            let _ = write!(buf, ":{version}");
        }
    }
    buf.push_str(parts.args());
    let mut tags = Vec::with_capacity(2 * parts.tags().len());
    for (tag, value) in parts.tags() {
        let value = value.as_deref();
        let mut scoped = String::with_capacity(scope_end + tag.len() + 24);
        scoped.push_str(&buf[..scope_end]);
        push_tag_suffix(&mut scoped, ':', tag, value);
        let mut across = String::with_capacity(prefix_end + tag.len() + 24);
        across.push_str(&buf[..prefix_end]);
        push_tag_suffix(&mut across, '!', tag, value);
        tags.push(scoped);
        tags.push(across);
    }
    CallKeys {
        buf,
        prefix_end,
        scope_end,
        tags,
    }
}

/// The fence of a result tag (`value` `None`) or the index of one of its values (`value`
/// an encoded component), in a scope (`base` its generation key: `…:!<tag>#=<value>`) or
/// in a bucket (`base` the bucket's prefix generation key, ending in `}`:
/// `…}!<tag>#=<value>`).
pub fn index_key(base: &str, tag: &str, value: Option<&str>) -> String {
    let mut out = String::with_capacity(base.len() + tag.len() + 8);
    out.push_str(base);
    let sep = if base.ends_with('}') { '!' } else { ':' };
    push_tag_suffix(&mut out, sep, tag, None);
    out.push('#');
    if let Some(value) = value {
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Writes `:!<tag>=<value>` (`sep` `:`, after a scope) or `!<tag>=<value>` (`sep` `!`,
/// after the hash tag); without `=<value>` for any value.
fn push_tag_suffix(out: &mut String, sep: char, tag: &str, value: Option<&str>) {
    if sep == ':' {
        out.push(':');
    }
    out.push('!');
    for byte in tag.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    if let Some(value) = value {
        out.push('=');
        out.push_str(value);
    }
}

/// The scope's generation of `tag` = `value` (`None`: any value), `scope` and `value`
/// being encoded components.
pub fn scope_tag_key(
    namespace: &str,
    prefix: &str,
    scope: &str,
    tag: &str,
    value: Option<&str>,
) -> String {
    let mut out = scope_generation_key(namespace, prefix, scope);
    push_tag_suffix(&mut out, ':', tag, value);
    out
}

/// Every copy of the prefix's generation of `tag` = `value` (`None`: any value), one per
/// bucket.
pub fn prefix_tag_keys(
    namespace: &str,
    prefix: &str,
    tag: &str,
    value: Option<&str>,
) -> Vec<String> {
    (0..BUCKETS)
        .map(|bucket| {
            let mut out = String::with_capacity(namespace.len() + prefix.len() + tag.len() + 24);
            push_tag(&mut out, namespace, prefix, bucket);
            push_tag_suffix(&mut out, '!', tag, value);
            out
        })
        .collect()
}

/// A key given by the user to `get`/`set`/`delete`/..., placed under the namespace.
pub(crate) fn user_key(namespace: &str, key: &str) -> String {
    if namespace.is_empty() {
        return key.to_owned();
    }
    let mut out = String::with_capacity(namespace.len() + 1 + key.len());
    out.push_str(namespace);
    out.push(':');
    out.push_str(key);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let mut parts = KeyParts::new();
        parts.scope("acme").arg(&7u8);
        let keys = call_keys("app", "fmpa", "list", 0, &parts);
        let tag = format!("app:c4:{{fmpa:{:03x}}}", bucket("fmpa", "acme"));
        assert_eq!(keys.prefix_generation(), tag);
        assert!(prefix_generation_keys("app", "fmpa").contains(&tag));
        assert_eq!(keys.scope_generation(), format!("{tag}:acme"));
        assert_eq!(
            keys.scope_generation(),
            scope_generation_key("app", "fmpa", "acme")
        );
        assert_eq!(keys.entry(), format!("{tag}:acme:list:0:~7"));
        let unscoped = call_keys("", "fmpa", "list", 2, &KeyParts::new());
        assert_eq!(
            unscoped.entry(),
            format!("c4:{{fmpa:{:03x}}}:!:list:2", bucket("fmpa", "!"))
        );
    }

    #[test]
    fn tag_keys_share_the_call_slot_and_never_meet_other_keys() {
        let mut parts = KeyParts::new();
        parts
            .scope("acme")
            .arg(&7u8)
            .tag("status", &Some("open"))
            .tag("item", &None::<u32>);
        let keys = call_keys("app", "fmpa", "list", 0, &parts);
        let tag = format!("app:c4:{{fmpa:{:03x}}}", bucket("fmpa", "acme"));
        assert_eq!(
            keys.tag_generations(),
            [
                format!("{tag}:acme:!status=open"),
                format!("{tag}!status=open"),
                format!("{tag}:acme:!item"),
                format!("{tag}!item"),
            ]
        );
        assert_eq!(
            keys.tag_generations()[0],
            scope_tag_key("app", "fmpa", "acme", "status", Some("open"))
        );
        assert!(prefix_tag_keys("app", "fmpa", "item", None).contains(&keys.tag_generations()[3]));
        for key in keys.tag_generations() {
            assert_eq!(crate::slot::of(key), crate::slot::of(keys.entry()));
        }
        // A scope or a value cannot forge a tag marker: `!` and `=`-free names.
        assert_eq!(component("a:!b").unwrap(), "a%3A%21b");
        assert_eq!(
            scope_tag_key("", "p", "s", "a=b", Some("c")),
            format!("c4:{{p:{:03x}}}:s:!a%3Db=c", bucket("p", "s"))
        );
    }

    #[test]
    fn buckets_are_stable_and_cover_the_range() {
        // Part of the format: these values must never change within a format.
        assert_eq!(bucket("", ""), 0x06d);
        assert_eq!(bucket("fmpa", "tenant-42"), 0x38c);
        assert_ne!(bucket("fmpa", "acme"), bucket("user", "acme"));
        let keys = prefix_generation_keys("app", "fmpa");
        assert_eq!(keys.len(), usize::from(BUCKETS));
        assert_eq!(keys[0], "app:c4:{fmpa:000}");
        assert_eq!(keys[1023], "app:c4:{fmpa:3ff}");
        let mut seen = std::collections::HashSet::new();
        for tenant in 0..20_000 {
            seen.insert(bucket("fmpa", &format!("tenant-{tenant}")));
        }
        assert_eq!(seen.len(), usize::from(BUCKETS));
    }
}
