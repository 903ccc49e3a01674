//! The audit of the program's cache sites: every `#[cached]` and `#[invalidates]`
//! registers itself at link time ([`Site`]); [`audit`] checks them against each other
//! (a read nothing invalidates, a typo in a prefix or a tag, a scope built from different
//! types on the two sides, ...) and draws the map of who invalidates what.
//!
//! Meant for a test of the application:
//!
//! ```no_run
//! #[test]
//! fn the_cache_sites_agree() {
//!     let audit = cache_core::audit();
//!     assert!(audit.findings().is_empty(), "{audit}");
//! }
//! ```
//!
//! What the audit sees is what the attributes wrote: an invalidation made by hand
//! (`Cache::invalidate`) or in another program is not in it. Such a read declares
//! `ttl_only = true`, or is audited in the program that has both sides.

mod findings;
mod map;
mod site;

pub use self::findings::{Finding, Problem};
pub use self::site::{Arg, Kind, Site};

use crate::Cache;
use std::fmt;

/// What [`audit`] found: the sites, the findings, and the map.
#[derive(Debug)]
pub struct Audit {
    sites: Vec<&'static Site>,
    findings: Vec<Finding>,
}

/// Audits every cache site of the program. With an installed cache
/// ([`crate::install`]), also checks its sensitive prefixes against the
/// `sensitive = true` reads ([`Cache::audit`] for another cache).
pub fn audit() -> Audit {
    match crate::installed::installed() {
        Some(cache) => cache.audit(),
        None => audit_with(None),
    }
}

impl Cache {
    /// [`audit`], checking the `sensitive = true` reads against this cache's sensitive
    /// prefixes.
    pub fn audit(&self) -> Audit {
        audit_with(Some(&self.inner.sensitive.declared()))
    }
}

/// [`audit`], checking the sensitive reads against `sensitive` (the prefixes a cache
/// declares; `None`: not checked).
pub fn audit_with(sensitive: Option<&[String]>) -> Audit {
    let sites = site::all();
    let findings = findings::check(&sites, sensitive);
    Audit { sites, findings }
}

impl Audit {
    /// Every site, sorted by file and line.
    pub fn sites(&self) -> &[&'static Site] {
        &self.sites
    }

    /// What is wrong; empty when the sites agree.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The map as text: per prefix, its reads and the writes that invalidate each.
    pub fn map_text(&self) -> String {
        map::text(&self.sites)
    }

    /// The map as a Mermaid flowchart (GitHub renders it in a ```` ```mermaid ```` block).
    pub fn map_mermaid(&self) -> String {
        map::mermaid(&self.sites)
    }
}

impl fmt::Display for Audit {
    /// The findings, one per line, then the map as text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} cache sites, {} findings",
            self.sites.len(),
            self.findings.len()
        )?;
        for finding in &self.findings {
            writeln!(f, "- {finding}")?;
        }
        write!(f, "\n{}", self.map_text())
    }
}
