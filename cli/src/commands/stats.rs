//! `cache stats`: the fleet's statistics, summed over its live processes.

use crate::show;
use crate::{Failure, Outcome};
use cache_core::{Cache, CacheStats, PrefixStats, ProcessStats};
use std::io::Write;

/// The live processes' statistics and their sum.
pub async fn fleet(cache: &Cache) -> Result<(Vec<ProcessStats>, CacheStats), Failure> {
    let processes = cache.fleet_stats().await?;
    let mut sum = CacheStats::default();
    for process in &processes {
        sum.add(&process.stats);
    }
    Ok((processes, sum))
}

pub async fn run(cache: &Cache, json: bool, out: &mut dyn Write) -> Result<Outcome, Failure> {
    let (processes, sum) = fleet(cache).await?;
    if json {
        let processes: Vec<_> = processes
            .iter()
            .map(|p| serde_json::json!({"id": p.id, "process": p.process}))
            .collect();
        let document = serde_json::json!({
            "namespace": cache.namespace(),
            "processes": processes,
            "total": sum.total,
            "prefixes": sum.prefixes,
            "sites": sum.sites,
        });
        writeln!(out, "{document:#}")?;
        return Ok(Outcome::Done);
    }
    writeln!(
        out,
        "namespace {:?}: {} live process(es) publishing statistics",
        cache.namespace(),
        processes.len()
    )?;
    for process in &processes {
        writeln!(out, "  {}", process.process)?;
    }
    writeln!(out)?;
    let mut rows = Vec::new();
    for (prefix, stats) in &sum.prefixes {
        rows.push(row(prefix, stats));
        for (name, site) in sum.sites.get(prefix).into_iter().flatten() {
            rows.push(row(&format!("  {prefix}/{name}"), site));
        }
    }
    rows.push(row("total", &sum.total));
    show::table(out, &HEADER, &rows, &[])?;
    Ok(Outcome::Done)
}

/// The columns of `stats`.
pub const HEADER: [&str; 11] = [
    "PREFIX/SITE",
    "HITS",
    "MISSES",
    "HIT RATE",
    "LOADS",
    "LOAD AVG",
    "LOCAL",
    "STALE",
    "INVALIDATIONS",
    "ERRORS",
    "NINES",
];

/// One line of `stats`.
pub fn row(name: &str, stats: &PrefixStats) -> Vec<String> {
    let load_avg = match stats.loads {
        0 => String::from("-"),
        loads => show::millis((stats.load_time.as_millis() as u64) / loads),
    };
    vec![
        name.to_owned(),
        stats.hits.to_string(),
        stats.misses.to_string(),
        show::percent(stats.hits, stats.hits + stats.misses),
        stats.loads.to_string(),
        load_avg,
        stats.local_hits.to_string(),
        stats.stale_served.to_string(),
        stats.invalidations.to_string(),
        (stats.errors + stats.decode_errors).to_string(),
        show::nines(stats.consistency_nines()),
    ]
}
