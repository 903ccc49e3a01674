//! The map of who invalidates what: per prefix, its reads and the writes that reach
//! them (by scope, by the whole prefix, or by tag), as text and as a Mermaid graph.

use super::site::{Kind, Site};
use std::collections::BTreeSet;
use std::fmt::Write;

/// How a write reaches a read of its prefix, if it does.
fn reaches(write: &Site, read: &Site) -> Option<String> {
    let prefix = read.prefixes.first()?;
    if !write.has_prefix(prefix) {
        return None;
    }
    let how = match (write.tags.is_empty(), &write.scope) {
        (true, Some(scope)) => format!("key = {}", scope.expr),
        (true, None) => "all".to_owned(),
        (false, _) => {
            let shared: Vec<&str> = write
                .tags
                .iter()
                .copied()
                .filter(|t| read.tags.contains(t))
                .collect();
            if shared.is_empty() {
                return None;
            }
            format!("tag {}", shared.join(", "))
        }
    };
    Some(how)
}

/// The prefixes of `sites`, sorted.
fn prefixes(sites: &[&'static Site]) -> BTreeSet<&'static str> {
    sites
        .iter()
        .flat_map(|s| s.prefixes.iter().copied())
        .collect()
}

/// The map as text: each prefix, its reads, and for each read the writes that reach it.
pub(crate) fn text(sites: &[&'static Site]) -> String {
    let mut out = String::new();
    for prefix in prefixes(sites) {
        let _ = writeln!(out, "{prefix}");
        let reads = sites
            .iter()
            .filter(|s| s.kind == Kind::Read && s.has_prefix(prefix));
        for read in reads {
            let scope = read
                .scope
                .map_or(String::new(), |s| format!(" key = {}", s.expr));
            let tags = match read.tags {
                [] => String::new(),
                tags => format!(" tags {}", tags.join(", ")),
            };
            let only = if read.ttl_only { " (ttl only)" } else { "" };
            let _ = writeln!(
                out,
                "  read {} ({}{scope}{tags}, ttl {}){only}  {}",
                read.function,
                read.name,
                read.ttl,
                read.location()
            );
            for write in sites.iter().filter(|s| s.kind == Kind::Invalidate) {
                if let Some(how) = reaches(write, read) {
                    let _ = writeln!(
                        out,
                        "    <- {} ({how})  {}",
                        write.function,
                        write.location()
                    );
                }
            }
        }
    }
    out
}

/// A Mermaid node id for a function (letters, digits and `_` only).
fn id(kind: &str, function: &str) -> String {
    let clean: String = function
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{kind}_{clean}")
}

/// The map as a Mermaid flowchart: a box per prefix holding its reads, an arrow from
/// each write to each read it invalidates, labelled with how.
pub(crate) fn mermaid(sites: &[&'static Site]) -> String {
    let mut out = String::from("flowchart LR\n");
    for prefix in prefixes(sites) {
        let reads: Vec<&&Site> = sites
            .iter()
            .filter(|s| s.kind == Kind::Read && s.has_prefix(prefix))
            .collect();
        if reads.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  subgraph {}[\"{prefix}\"]", id("p", prefix));
        for read in reads {
            let _ = writeln!(
                out,
                "    {}[\"{} · ttl {}\"]",
                id("r", read.function),
                read.function,
                read.ttl
            );
        }
        let _ = writeln!(out, "  end");
    }
    let mut edges = BTreeSet::new();
    for write in sites.iter().filter(|s| s.kind == Kind::Invalidate) {
        for read in sites.iter().filter(|s| s.kind == Kind::Read) {
            if let Some(how) = reaches(write, read) {
                edges.insert((id("w", write.function), how, id("r", read.function)));
            }
        }
    }
    let writers: BTreeSet<&str> = sites
        .iter()
        .filter(|s| s.kind == Kind::Invalidate)
        .map(|s| s.function)
        .collect();
    for writer in writers {
        let _ = writeln!(out, "  {}([\"{writer}\"])", id("w", writer));
    }
    for (from, how, to) in edges {
        let _ = writeln!(out, "  {from} -->|\"{how}\"| {to}");
    }
    out
}
