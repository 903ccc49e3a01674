//! What the audit checks, over the registry: reads nothing invalidates, invalidations
//! nothing reads, scopes of different types, write-throughs whose two sides disagree,
//! sensitive reads the cache does not declare, and sites that share keys with other
//! value types.

use super::site::{Kind, Site, normalized};
use std::fmt;

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A read of a prefix that no `#[invalidates]` of the program targets (neither its
    /// scope nor one of its tags), and that is not `ttl_only`.
    NeverInvalidated,
    /// A tag a read declares that no `#[invalidates]` of its prefix targets.
    TagNeverInvalidated,
    /// An `#[invalidates]` of a prefix that no `#[cached]` reads (a typo?).
    NoReader,
    /// An `#[invalidates]` of a tag that no read of its prefix declares (a typo?).
    TagNoReader,
    /// A reader and an invalidator of a prefix build its scope from different types
    /// (`tenant: &str` against `tenant_id: u64`): the invalidation never reaches.
    ScopeTypes,
    /// A write-through stores into a read of another prefix than it invalidates, or with
    /// a scope of another type.
    WriteThrough,
    /// A `sensitive = true` read whose prefix the cache does not declare
    /// (`CacheBuilder::sensitive_prefix`).
    UndeclaredSensitive,
    /// Two reads share a prefix, name and version (so their entries) with different
    /// value types.
    ValueTypes,
}

/// One finding: what, where (both sites when two disagree), and how to fix it.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What is wrong.
    pub problem: Problem,
    /// The prefix concerned.
    pub prefix: &'static str,
    /// The site found wrong.
    pub site: &'static Site,
    /// The other site, when two disagree.
    pub other: Option<&'static Site>,
    /// What is wrong and how to fix it, in a sentence.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.message, self.site.location())?;
        if let Some(other) = self.other {
            write!(f, ", {}", other.location())?;
        }
        write!(f, ")")
    }
}

/// Every finding over `sites`; `sensitive` the prefixes the cache declares sensitive
/// (`None`: no cache to ask, not checked).
pub(crate) fn check(sites: &[&'static Site], sensitive: Option<&[String]>) -> Vec<Finding> {
    let reads: Vec<&'static Site> = sites
        .iter()
        .copied()
        .filter(|s| s.kind == Kind::Read)
        .collect();
    let writes: Vec<&'static Site> = sites
        .iter()
        .copied()
        .filter(|s| s.kind == Kind::Invalidate)
        .collect();
    let mut found = Vec::new();
    for &read in &reads {
        unreached(read, &writes, &mut found);
        if let Some(declared) = sensitive
            && read.sensitive
            && let Some(&prefix) = read.prefixes.first()
            && !declared.iter().any(|p| p == prefix)
        {
            found.push(Finding {
                problem: Problem::UndeclaredSensitive,
                prefix,
                site: read,
                other: None,
                message: format!(
                    "`{}` is sensitive but the cache does not declare prefix \"{prefix}\": add `.sensitive_prefix(\"{prefix}\")` to its builder",
                    read.function
                ),
            });
        }
    }
    for &write in &writes {
        unread(write, &reads, &mut found);
    }
    // A write-through concerns the whole function (all its targets), recorded once per
    // target: checked once, against the prefixes of all of them.
    for (i, &write) in writes.iter().enumerate() {
        let same = |other: &Site| {
            other.function == write.function && other.file == write.file && other.line == write.line
        };
        if writes[..i].iter().any(|w| same(w)) {
            continue;
        }
        let prefixes: Vec<&str> = writes
            .iter()
            .filter(|w| same(w))
            .flat_map(|w| w.prefixes.iter().copied())
            .collect();
        through(write, &prefixes, &reads, &mut found);
    }
    scope_types(&reads, &writes, &mut found);
    value_types(&reads, &mut found);
    found
}

/// A read nothing invalidates, and its tags nothing invalidates.
fn unreached(read: &'static Site, writes: &[&'static Site], found: &mut Vec<Finding>) {
    let Some(&prefix) = read.prefixes.first() else {
        return;
    };
    if read.ttl_only {
        return;
    }
    let of_prefix: Vec<&&Site> = writes.iter().filter(|w| w.has_prefix(prefix)).collect();
    let reached = of_prefix
        .iter()
        .any(|w| w.tags.is_empty() || w.tags.iter().any(|t| read.tags.contains(t)));
    if !reached {
        found.push(Finding {
            problem: Problem::NeverInvalidated,
            prefix,
            site: read,
            other: None,
            message: format!(
                "`{}` reads prefix \"{prefix}\" but no #[invalidates] targets it: invalidate it where its data changes (#[invalidates(\"{prefix}\", ...)]), or declare `ttl_only = true` if its TTL is its only freshness",
                read.function
            ),
        });
        return;
    }
    for tag in read.tags {
        if !of_prefix.iter().any(|w| w.tags.contains(tag)) {
            found.push(Finding {
                problem: Problem::TagNeverInvalidated,
                prefix,
                site: read,
                other: None,
                message: format!(
                    "`{}` declares tag `{tag}` of prefix \"{prefix}\" but no #[invalidates] targets it: add tag({tag} = ...) to the writes that change it, or remove the tag",
                    read.function
                ),
            });
        }
    }
}

/// An invalidation of a prefix, or of a tag, that no read has.
fn unread(write: &'static Site, reads: &[&'static Site], found: &mut Vec<Finding>) {
    for &prefix in write.prefixes {
        let readers: Vec<&&Site> = reads.iter().filter(|r| r.has_prefix(prefix)).collect();
        if readers.is_empty() {
            found.push(Finding {
                problem: Problem::NoReader,
                prefix,
                site: write,
                other: None,
                message: format!(
                    "`{}` invalidates prefix \"{prefix}\" but no #[cached] reads it: a typo of another prefix?",
                    write.function
                ),
            });
            continue;
        }
        for tag in write.tags {
            if !readers.iter().any(|r| r.tags.contains(tag)) {
                found.push(Finding {
                    problem: Problem::TagNoReader,
                    prefix,
                    site: write,
                    other: None,
                    message: format!(
                        "`{}` invalidates tag `{tag}` of prefix \"{prefix}\" but no read of it declares that tag: a typo of another tag?",
                        write.function
                    ),
                });
            }
        }
    }
}

/// A write-through into a read of another prefix than any of the function's `prefixes`,
/// or built from another scope type.
fn through(
    write: &'static Site,
    prefixes: &[&str],
    reads: &[&'static Site],
    found: &mut Vec<Finding>,
) {
    for &function in write.write_through {
        for &read in reads.iter().filter(|r| r.function == function) {
            let Some(&prefix) = read.prefixes.first() else {
                continue;
            };
            let message = if !prefixes.contains(&prefix) {
                format!(
                    "`{}` writes through into `{function}` (prefix \"{prefix}\") but invalidates {prefixes:?}: the written value and the invalidation concern different entries",
                    write.function
                )
            } else if differ(read.scope.map(|a| a.ty), write.scope.map(|a| a.ty)) {
                format!(
                    "`{}` writes through into `{function}` with a scope of another type than the read's: it stores under a key the read never builds",
                    write.function
                )
            } else {
                continue;
            };
            found.push(Finding {
                problem: Problem::WriteThrough,
                prefix,
                site: write,
                other: Some(read),
                message,
            });
        }
    }
}

/// Whether two scope types are both known and differ.
fn differ(a: Option<&str>, b: Option<&str>) -> bool {
    match (a.map(normalized), b.map(normalized)) {
        (Some(a), Some(b)) => !a.is_empty() && !b.is_empty() && a != b,
        _ => false,
    }
}

/// A reader and an invalidator of one prefix whose scopes have different types.
fn scope_types(reads: &[&'static Site], writes: &[&'static Site], found: &mut Vec<Finding>) {
    for &write in writes {
        for &prefix in write.prefixes {
            let Some(read) = reads.iter().find(|r| {
                r.has_prefix(prefix) && differ(r.scope.map(|a| a.ty), write.scope.map(|a| a.ty))
            }) else {
                continue;
            };
            let (read_ty, write_ty) = (
                read.scope.map_or("", |a| a.ty),
                write.scope.map_or("", |a| a.ty),
            );
            found.push(Finding {
                problem: Problem::ScopeTypes,
                prefix,
                site: write,
                other: Some(read),
                message: format!(
                    "`{}` builds the scope of \"{prefix}\" from `{write_ty}` where `{}` builds it from `{read_ty}`: the same value encodes differently, so the invalidation never reaches; convert to one type on both sides",
                    write.function, read.function
                ),
            });
        }
    }
}

/// Two reads sharing entries (prefix, name, version) with different value types.
fn value_types(reads: &[&'static Site], found: &mut Vec<Finding>) {
    for (i, &a) in reads.iter().enumerate() {
        for &b in &reads[i + 1..] {
            let shared = a.prefixes == b.prefixes && a.name == b.name && a.version == b.version;
            let (ta, tb) = (normalized(a.value_type), normalized(b.value_type));
            // An empty type is unknown (a batch site's map of another form): not compared.
            if shared && !ta.is_empty() && !tb.is_empty() && ta != tb {
                found.push(Finding {
                    problem: Problem::ValueTypes,
                    prefix: a.prefixes.first().copied().unwrap_or(""),
                    site: b,
                    other: Some(a),
                    message: format!(
                        "`{}` and `{}` share entries (prefix {:?}, name \"{}\", version {}) but store `{}` and `{}`: each reads the other's as corrupt; give one another `name` or `version`",
                        b.function, a.function, a.prefixes, a.name, a.version, b.value_type, a.value_type
                    ),
                });
            }
        }
    }
}
