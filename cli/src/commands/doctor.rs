//! `cache doctor`: Redis and the fleet examined; exits 1 on a problem.

use crate::show;
use crate::{Failure, Outcome};
use cache_core::Cache;
use cache_core::inspect::Level;
use std::io::Write;

pub async fn run(cache: &Cache, json: bool, out: &mut dyn Write) -> Result<Outcome, Failure> {
    let doctor = cache.doctor().await;
    if json {
        writeln!(
            out,
            "{:#}",
            serde_json::json!({"worst": doctor.worst(), "checks": doctor.checks})
        )?;
    } else {
        let rows: Vec<Vec<String>> = doctor
            .checks
            .iter()
            .map(|check| {
                let level = match check.level {
                    Level::Ok => "ok",
                    Level::Warning => "WARNING",
                    Level::Problem => "PROBLEM",
                };
                vec![level.to_owned(), check.name.clone(), check.detail.clone()]
            })
            .collect();
        show::table(out, &["", "CHECK", "WHAT WAS SEEN"], &rows, &[1, 2])?;
    }
    Ok(match doctor.worst() {
        Level::Problem => Outcome::Problem,
        _ => Outcome::Done,
    })
}
