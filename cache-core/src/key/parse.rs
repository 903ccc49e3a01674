//! Reading a key of the format back ([`super`]): what kind of key it is and its
//! components, for tools that show what is cached (an operator's CLI) without knowing the
//! format themselves. The inverse of the writers in [`super`], pinned by a property test.

use super::{BUCKETS, FORMAT, NO_SCOPE};
use serde::Serialize;

/// One component of a key (the scope, a key argument, a tag value), as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// The component exactly as it is in the key.
    pub encoded: String,
}

impl Component {
    /// Whether the component is a hash, not the value: a long one (`#` and 32 hex digits)
    /// or a sensitive one (`~h` and 32 hex digits, keyed: only a process holding the
    /// naming key can match it).
    pub fn is_hashed(&self) -> bool {
        self.encoded.starts_with('#') || self.encoded.starts_with("~h")
    }

    /// The component with its `%XX` escapes undone: a string argument as it was
    /// (`feu de forêt`), a number or a structure in the format's notation (`~42`,
    /// `(status=ACTIVE,page=~2)`); `None` for a hashed one.
    pub fn decoded(&self) -> Option<String> {
        (!self.is_hashed()).then(|| unescape(&self.encoded))
    }
}

/// The call a key names: its function, the attribute's version, its further key
/// arguments in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The function's name (or the attribute's `name = ...`).
    pub name: String,
    /// The attribute's `version`.
    pub version: u32,
    /// The key arguments after the scope.
    pub args: Vec<Component>,
}

/// What a key of this library is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyKind {
    /// A cached call's entry.
    Entry(Call),
    /// An entry's early-refresh claim (`refresh = ...`).
    RefreshClaim(Call),
    /// A stampede lease on an entry (`lease = ...`), for one set of generations.
    Lease {
        /// The entry's call.
        call: Call,
        /// The hash of the generations the lease's miss read.
        generations: String,
    },
    /// The generation of a scope (removed by `invalidate(prefix, scope)`).
    ScopeGeneration,
    /// A bucket's copy of the prefix's generation (removed by `invalidate_all`).
    PrefixGeneration,
    /// The generation of a tag value, in the scope or, without a scope, in the bucket.
    TagGeneration {
        /// The tag's name.
        tag: String,
        /// Its value; `None`: the generation of any value.
        value: Option<Component>,
    },
    /// The fence of a tag read from the result, in the scope or the bucket.
    Fence {
        /// The tag's name.
        tag: String,
    },
    /// The index of one value of a tag read from the result: the entries that hold it.
    Index {
        /// The tag's name.
        tag: String,
        /// The value.
        value: Component,
    },
}

/// A key of the format, read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedKey {
    /// The prefix, as the attribute names it.
    pub prefix: String,
    /// The bucket of its scope (its hash tag's second half).
    pub bucket: u16,
    /// The scope (`key = ...`); `None` for a function without one, and for the keys of
    /// a whole bucket (the prefix generation, its tag generations, fences and indexes).
    pub scope: Option<Component>,
    /// What the key is.
    #[serde(flatten)]
    pub kind: KeyKind,
}

impl ParsedKey {
    /// The scope as written in the key (`!` for none).
    pub fn scope_encoded(&self) -> &str {
        self.scope
            .as_ref()
            .map_or(NO_SCOPE, |scope| scope.encoded.as_str())
    }

    /// Whether its scope or arguments are written as keyed hashes (a sensitive prefix's).
    pub fn is_sensitive(&self) -> bool {
        let keyed = |component: &Component| component.encoded.starts_with("~h");
        let args = match &self.kind {
            KeyKind::Entry(call) | KeyKind::RefreshClaim(call) => call.args.as_slice(),
            KeyKind::Lease { call, .. } => call.args.as_slice(),
            _ => &[],
        };
        self.scope.as_ref().is_some_and(keyed) || args.iter().any(keyed)
    }
}

/// Reads `key`, a key of a cache on `namespace`, back: `None` when it is not a key of
/// this format (another namespace or format version, a user key of `Cache::set`).
///
/// ```
/// use cache_core::key::{self, KeyKind, KeyParts};
/// let mut parts = KeyParts::new();
/// parts.scope("tenant-1").arg(&(7, "a b"));
/// let keys = key::call_keys("app", "fmpa", "list", 0, &parts);
/// let parsed = key::parse("app", keys.entry()).unwrap();
/// assert_eq!(parsed.prefix, "fmpa");
/// assert_eq!(parsed.scope.unwrap().decoded().as_deref(), Some("tenant-1"));
/// let KeyKind::Entry(call) = parsed.kind else { panic!() };
/// assert_eq!(call.name, "list");
/// assert_eq!(call.args[0].decoded().as_deref(), Some("<~7,a b>"));
/// ```
pub fn parse(namespace: &str, key: &str) -> Option<ParsedKey> {
    let rest = match namespace.is_empty() {
        true => key,
        false => key.strip_prefix(namespace)?.strip_prefix(':')?,
    };
    let rest = rest.strip_prefix(FORMAT)?.strip_prefix(":{")?;
    let (tag, after) = rest.split_once('}')?;
    let (prefix, bucket) = tag.rsplit_once(':')?;
    let bucket = (bucket.len() == 3)
        .then(|| u16::from_str_radix(bucket, 16).ok())
        .flatten()
        .filter(|bucket| *bucket < BUCKETS)?;
    let at = |scope, kind| ParsedKey {
        prefix: unescape(prefix),
        bucket,
        scope,
        kind,
    };
    if after.is_empty() {
        return Some(at(None, KeyKind::PrefixGeneration));
    }
    if let Some(tag) = after.strip_prefix('!') {
        return Some(at(None, tag_kind(tag)?));
    }
    let mut segments = after.strip_prefix(':')?.split(':');
    let scope = segments.next()?;
    let scope = (scope != NO_SCOPE).then(|| Component {
        encoded: scope.to_owned(),
    });
    let Some(second) = segments.next() else {
        return Some(at(scope, KeyKind::ScopeGeneration));
    };
    if let Some(tag) = second.strip_prefix('!') {
        return match segments.next() {
            None => Some(at(scope, tag_kind(tag)?)),
            Some(_) => None,
        };
    }
    let mut call = Call {
        name: unescape(second),
        version: segments.next()?.parse().ok()?,
        args: Vec::new(),
    };
    while let Some(segment) = segments.next() {
        let kind = match segment {
            "!refresh" => KeyKind::RefreshClaim(call),
            "!lease" => KeyKind::Lease {
                call,
                generations: segments.next()?.to_owned(),
            },
            _ if segment.starts_with('!') => return None,
            _ => {
                call.args.push(Component {
                    encoded: segment.to_owned(),
                });
                continue;
            }
        };
        // A claim or a lease ends the key.
        return match segments.next() {
            None => Some(at(scope, kind)),
            Some(_) => None,
        };
    }
    Some(at(scope, KeyKind::Entry(call)))
}

/// The kind of a tag key from what follows its `!`: `<tag>`, `<tag>=<value>`, `<tag>#`
/// or `<tag>#=<value>`.
fn tag_kind(tag: &str) -> Option<KeyKind> {
    let value = |value: &str| Component {
        encoded: value.to_owned(),
    };
    if let Some((name, index)) = tag.split_once('#') {
        let tag = unescape(name);
        return match index {
            "" => Some(KeyKind::Fence { tag }),
            _ => Some(KeyKind::Index {
                tag,
                value: value(index.strip_prefix('=')?),
            }),
        };
    }
    Some(match tag.split_once('=') {
        Some((name, one)) => KeyKind::TagGeneration {
            tag: unescape(name),
            value: Some(value(one)),
        },
        None => KeyKind::TagGeneration {
            tag: unescape(tag),
            value: None,
        },
    })
}

/// Undoes the `%XX` escapes of a component (anything else is kept as it is).
fn unescape(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{self, KeyParts};
    use proptest::prelude::*;

    fn component(encoded: &str) -> Option<Component> {
        Some(Component {
            encoded: encoded.to_owned(),
        })
    }

    #[test]
    fn every_kind_reads_back() {
        let mut parts = KeyParts::new();
        parts.scope("t:1").arg(&42).tag("status", &"OPEN");
        let keys = key::call_keys("ns", "fm pa", "list", 3, &parts);
        let entry = key::parse("ns", keys.entry()).unwrap();
        assert_eq!(entry.prefix, "fm pa");
        assert_eq!(entry.scope, component("t%3A1"));
        assert_eq!(entry.scope.as_ref().unwrap().decoded().unwrap(), "t:1");
        let args = vec![component("~42").unwrap()];
        let call = Call {
            name: "list".into(),
            version: 3,
            args,
        };
        assert_eq!(entry.kind, KeyKind::Entry(call.clone()));
        let scope = key::parse("ns", keys.scope_generation()).unwrap();
        assert_eq!(
            (scope.kind, scope.scope),
            (KeyKind::ScopeGeneration, component("t%3A1"))
        );
        let prefix = key::parse("ns", keys.prefix_generation()).unwrap();
        assert_eq!(
            (prefix.kind, prefix.scope),
            (KeyKind::PrefixGeneration, None)
        );
        let tags: Vec<KeyKind> = keys
            .tag_generations()
            .iter()
            .map(|tag| key::parse("ns", tag).unwrap().kind)
            .collect();
        let open = KeyKind::TagGeneration {
            tag: "status".into(),
            value: component("OPEN"),
        };
        assert_eq!(tags, [open.clone(), open]);
        let fence = key::index_key(keys.scope_generation(), "item", None);
        let index = key::index_key(keys.prefix_generation(), "item", Some("~7"));
        assert_eq!(
            key::parse("ns", &fence).unwrap().kind,
            KeyKind::Fence { tag: "item".into() }
        );
        let index = key::parse("ns", &index).unwrap();
        assert_eq!(
            (index.kind, index.scope),
            (
                KeyKind::Index {
                    tag: "item".into(),
                    value: component("~7").unwrap()
                },
                None
            )
        );
        let claim = key::parse("ns", &key::refresh_key(keys.entry())).unwrap();
        assert_eq!(claim.kind, KeyKind::RefreshClaim(call.clone()));
        let lease = key::parse("ns", &key::lease_key(keys.entry(), b"g")).unwrap();
        assert!(matches!(lease.kind, KeyKind::Lease { call: ref c, .. } if *c == call));
        // Not ours: another namespace, another format, a user key, a pending marker.
        assert_eq!(key::parse("other", keys.entry()), None);
        assert_eq!(
            key::parse("ns", &keys.entry().replace(":c4:", ":c3:")),
            None
        );
        assert_eq!(key::parse("ns", "ns:my-key"), None);
        // For scripts: the kind and the call flattened into one object.
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["kind"], "entry");
        assert_eq!(
            (json["prefix"].as_str(), json["name"].as_str()),
            (Some("fm pa"), Some("list"))
        );
        assert_eq!(key::parse("ns", &key::prefix_marker("ns", "fmpa")), None);
    }

    #[test]
    fn unscoped_and_hashed_components() {
        let keys = key::call_keys("", "p", "f", 0, &KeyParts::new());
        let parsed = key::parse("", keys.entry()).unwrap();
        assert_eq!(parsed.scope, None);
        let long = Component {
            encoded: key::component(&"x".repeat(500)).unwrap(),
        };
        assert!(long.is_hashed() && long.decoded().is_none());
        let sealed = component("~h0123456789abcdef0123456789abcdef").unwrap();
        assert!(sealed.is_hashed());
        assert_eq!(component("~42").unwrap().decoded().unwrap(), "~42");
    }

    proptest! {
        #[test]
        fn an_entry_reads_back_as_it_was_written(
            namespace in "[a-z:_-]{0,8}",
            prefix in "\\PC{1,12}",
            name in "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
            version in 0u32..5,
            scope in proptest::option::of("\\PC{0,20}"),
            args in proptest::collection::vec(("\\PC{0,20}", any::<i64>()), 0..3),
        ) {
            prop_assume!(!namespace.starts_with(':') && !namespace.ends_with(':'));
            let mut parts = KeyParts::new();
            if let Some(scope) = &scope {
                parts.scope(scope);
            }
            for (text, number) in &args {
                parts.arg(text).arg(number);
            }
            let keys = key::call_keys(&namespace, &prefix, &name, version, &parts);
            let parsed = key::parse(&namespace, keys.entry()).expect("an entry of the format");
            let expected: Vec<Component> = args
                .iter()
                .flat_map(|(text, number)| [key::component(text).unwrap(), key::component(number).unwrap()])
                .map(|encoded| Component { encoded })
                .collect();
            prop_assert_eq!(parsed.kind, KeyKind::Entry(Call { name, version, args: expected.clone() }));
            prop_assert_eq!(parsed.scope, scope.as_ref().map(|s| Component { encoded: key::component(s).unwrap() }));
            if key::component(&prefix).unwrap().len() <= key::MAX_COMPONENT_LEN {
                prop_assert_eq!(parsed.prefix, prefix);
            }
            for (component, (text, _)) in expected.iter().step_by(2).zip(&args) {
                if !component.is_hashed() {
                    prop_assert_eq!(component.decoded().unwrap(), text.clone());
                }
            }
        }
    }
}
