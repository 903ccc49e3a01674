//! `cache top`: the fleet's statistics as rates, refreshed, busiest sites first.

use crate::show;
use crate::{Failure, Outcome};
use cache_core::{Cache, CacheStats, PrefixStats};
use std::io::Write;
use std::time::{Duration, Instant};

pub async fn run(
    cache: &Cache,
    json: bool,
    interval: f64,
    iterations: Option<u64>,
    out: &mut dyn Write,
) -> Result<Outcome, Failure> {
    let interval = Duration::try_from_secs_f64(interval)
        .ok()
        .filter(|interval| !interval.is_zero())
        .ok_or_else(|| {
            Failure(format!(
                "--interval must be a positive number of seconds, not {interval}"
            ))
        })?;
    let (_, mut before) = super::stats::fleet(cache).await?;
    let mut at = Instant::now();
    let mut done = 0;
    while iterations.is_none_or(|iterations| done < iterations) {
        tokio::time::sleep(interval).await; // the refresh period the operator asked for
        let (processes, now) = super::stats::fleet(cache).await?;
        let seconds = at.elapsed().as_secs_f64().max(1e-3);
        at = Instant::now();
        let rates = rates(&before, &now, seconds);
        if json {
            let sites: Vec<_> = rates
                .iter()
                .map(|(site, per_second, stats)| {
                    serde_json::json!({"site": site, "reads_per_second": per_second, "hit_rate": stats.hit_rate(), "delta": stats})
                })
                .collect();
            let line = serde_json::json!({"processes": processes.len(), "seconds": seconds, "sites": sites});
            writeln!(out, "{line}")?;
        } else {
            // Clear the terminal and go home, as top does.
            write!(out, "\x1b[2J\x1b[H")?;
            writeln!(
                out,
                "cache top: namespace {:?}, {} process(es), every {:.1}s (Ctrl-C to stop)\n",
                cache.namespace(),
                processes.len(),
                interval.as_secs_f64()
            )?;
            let rows: Vec<Vec<String>> = rates
                .iter()
                .map(|(site, per_second, stats)| {
                    let mut row = super::stats::row(site, stats);
                    row.insert(1, format!("{per_second:.1}"));
                    row
                })
                .collect();
            let mut header = super::stats::HEADER.to_vec();
            header.insert(1, "READS/S");
            show::table(out, &header, &rows, &[])?;
        }
        out.flush()?;
        before = now;
        done += 1;
    }
    Ok(Outcome::Done)
}

/// Each site's counters since `before`, and its reads per second, busiest first.
fn rates(before: &CacheStats, now: &CacheStats, seconds: f64) -> Vec<(String, f64, PrefixStats)> {
    let mut out = Vec::new();
    for (prefix, names) in &now.sites {
        for (name, stats) in names {
            let delta = stats.since(&before.site(prefix, name));
            let per_second = (delta.hits + delta.misses) as f64 / seconds;
            out.push((format!("{prefix}/{name}"), per_second, delta));
        }
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}
