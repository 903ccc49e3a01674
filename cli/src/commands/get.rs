//! `cache get KEY`: one entry, its value included.

use crate::show;
use crate::{Failure, Outcome};
use cache_core::Cache;
use std::io::Write;

pub async fn run(
    cache: &Cache,
    json: bool,
    key: &str,
    out: &mut dyn Write,
) -> Result<Outcome, Failure> {
    let Some(entry) = cache.entry(key).await? else {
        return Err(Failure(format!(
            "{key:?} is not an entry of namespace {:?} (or it is gone): `cache keys PREFIX` lists them",
            cache.namespace()
        )));
    };
    if json {
        writeln!(
            out,
            "{:#}",
            serde_json::to_value(&entry).map_err(|e| Failure(e.to_string()))?
        )?;
        return Ok(Outcome::Done);
    }
    writeln!(out, "key         {}", entry.key)?;
    writeln!(
        out,
        "prefix      {} (bucket {:03x})",
        entry.call.prefix, entry.call.bucket
    )?;
    let scope = entry
        .call
        .scope
        .as_ref()
        .map_or_else(|| String::from("-"), super::keys::shown);
    writeln!(out, "scope       {scope}")?;
    writeln!(out, "call        {}", super::keys::call(&entry))?;
    writeln!(out, "state       {:?}", entry.state)?;
    let ttl = entry.ttl_ms.map_or_else(|| String::from("-"), show::millis);
    writeln!(
        out,
        "ttl         {ttl} (fail-safe grace {})",
        show::millis(entry.grace_ms)
    )?;
    writeln!(
        out,
        "size        {} bytes, codec {}",
        entry.size,
        entry.codec.as_deref().unwrap_or("?")
    )?;
    writeln!(out, "sealed      {}", entry.sealed)?;
    let names = ["prefix", "scope"];
    for (i, generation) in entry.generations.iter().enumerate() {
        let name = names
            .get(i)
            .map_or_else(|| format!("tag {}", i - 1), |name| (*name).to_owned());
        let state = if generation.current {
            "current"
        } else {
            "GONE (invalidated)"
        };
        writeln!(out, "generation  {name:<8} {} {state}", generation.entry)?;
    }
    match (&entry.value, &entry.note) {
        (Some(value), _) => {
            let pretty = serde_json::to_string_pretty(value).map_err(|e| Failure(e.to_string()))?;
            writeln!(out, "value\n{pretty}")?;
        }
        (None, Some(note)) => writeln!(out, "value       ({note})")?,
        (None, None) => writeln!(out, "value       (none)")?,
    }
    Ok(Outcome::Done)
}
