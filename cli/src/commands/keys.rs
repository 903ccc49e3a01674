//! `cache keys PREFIX [--scope S] [--tag NAME=VALUE]`: the prefix's entries as calls.

use crate::show;
use crate::{Failure, Outcome};
use cache_core::Cache;
use cache_core::inspect::{EntryFilter, EntryReport, EntryState};
use cache_core::key::{Component, KeyKind};
use std::io::Write;

pub async fn run(
    cache: &Cache,
    json: bool,
    prefix: &str,
    scope: Option<&str>,
    tag: Option<&str>,
    out: &mut dyn Write,
) -> Result<Outcome, Failure> {
    let mut filter = EntryFilter::new();
    if let Some(scope) = scope {
        filter = filter.scope(scope);
    }
    if let Some(tag) = tag {
        let (name, value) = crate::args::tag(tag).map_err(Failure)?;
        filter = filter.tag(name, value);
    }
    let entries = cache.entries(prefix, &filter).await?;
    if json {
        writeln!(
            out,
            "{:#}",
            serde_json::to_value(&entries).map_err(|e| Failure(e.to_string()))?
        )?;
        return Ok(Outcome::Done);
    }
    let rows: Vec<Vec<String>> = entries.iter().map(row).collect();
    show::table(
        out,
        &["STATE", "TTL", "SIZE", "SCOPE", "CALL", "KEY"],
        &rows,
        &[3, 4, 5],
    )?;
    let dead = entries
        .iter()
        .filter(|entry| entry.state != EntryState::Current)
        .count();
    writeln!(out, "{} entries, {dead} dead or unreadable", entries.len())?;
    Ok(Outcome::Done)
}

/// One entry's line.
fn row(entry: &EntryReport) -> Vec<String> {
    let state = match entry.state {
        EntryState::Current => "current",
        EntryState::Dead => "dead",
        EntryState::Unreadable => "unreadable",
    };
    vec![
        state.to_owned(),
        entry.ttl_ms.map_or_else(|| String::from("-"), show::millis),
        entry.size.to_string(),
        entry
            .call
            .scope
            .as_ref()
            .map_or_else(|| String::from("-"), shown),
        call(entry),
        entry.key.clone(),
    ]
}

/// A component as read back, a hashed one as such.
pub fn shown(component: &Component) -> String {
    match component.decoded() {
        Some(decoded) => decoded,
        None => format!("<hashed {}>", component.encoded),
    }
}

/// `name(arg, arg)`, with `@v<version>` when the version is not 0.
pub fn call(entry: &EntryReport) -> String {
    let KeyKind::Entry(call) = &entry.call.kind else {
        return String::from("?");
    };
    let args: Vec<String> = call.args.iter().map(shown).collect();
    let version = match call.version {
        0 => String::new(),
        v => format!("@v{v}"),
    };
    format!("{}{version}({})", call.name, args.join(", "))
}
