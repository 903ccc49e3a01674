//! Section 17, `--only storm`: an expiry storm. 64 tasks read one hot key (TTL 1 s, a
//! 20 ms loader) for a while, with and without early refresh: loads per expiry, callers
//! that waited on a load, and latency against a steady hit's.

use crate::measure::summarize;
use crate::workload::*;
use cache_core::cached;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static LOADS: AtomicU64 = AtomicU64::new(0);

/// The loader: 20 ms of "database".
async fn load() -> Result<Row, BenchError> {
    LOADS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(row(1))
}

#[cached(prefix = "bench-storm", name = "plain", ttl = "1s", key = tenant)]
async fn plain(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    load().await
}

#[cached(prefix = "bench-storm", name = "refreshed", ttl = "1s", refresh = 0.8, key = tenant)]
async fn refreshed(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    load().await
}

/// The same with owned arguments and a soft timeout: the read runs in a task of its own,
/// and the caller due for the refresh is answered with the hit at once.
#[cached(prefix = "bench-storm", name = "background", ttl = "1s", refresh = 0.8, timeout = "50ms", key = tenant)]
async fn background(tenant: String) -> Result<Row, BenchError> {
    let _ = tenant;
    load().await
}

#[cached(prefix = "bench-storm", name = "steady", ttl = "10m", key = tenant)]
async fn steady(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    load().await
}

/// What a run of 64 tasks for `seconds` saw.
struct Run {
    calls: usize,
    loads: u64,
    waited: usize,
    p50: Duration,
    p99: Duration,
}

async fn run(which: &'static str, seconds: u64) -> Run {
    let until = Instant::now() + Duration::from_secs(seconds);
    let before = LOADS.load(Ordering::Relaxed);
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let samples = samples.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                let got = match which {
                    "plain" => plain("hot").await,
                    "refreshed" => refreshed("hot").await,
                    "background" => background("hot".to_owned()).await,
                    _ => steady("hot").await,
                };
                got.expect("the loader never fails");
                mine.push(started.elapsed());
            }
            samples.lock().unwrap().extend(mine);
        }));
    }
    for task in tasks {
        task.await.expect("a task");
    }
    let mut samples = std::mem::take(&mut *samples.lock().unwrap());
    let waited = samples
        .iter()
        .filter(|took| **took >= Duration::from_millis(15))
        .count();
    let summary = summarize(&mut samples);
    Run {
        calls: samples.len(),
        loads: LOADS.load(Ordering::Relaxed) - before,
        waited,
        p50: summary.median,
        p99: summary.p99,
    }
}

pub(crate) async fn storm(quick: bool) {
    let seconds = if quick { 6 } else { 30 };
    println!(
        "## 17. Expiry storm: 64 tasks on a hot key (TTL 1 s, loader 20 ms), {seconds} s each\n"
    );
    // Warm every key first; the steady key never expires during the run.
    for which in ["plain", "refreshed", "background", "steady"] {
        run(which, 1).await;
    }
    let steady = run("steady", seconds.min(10)).await;
    let plain = run("plain", seconds).await;
    let refreshed = run("refreshed", seconds).await;
    let background = run("background", seconds).await;
    println!(
        "| variant | calls | loads | loads per expiry | callers that waited on a load | p50 µs | p99 µs | p99 / steady |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, run) in [
        ("steady hits (TTL 10 m)", &steady),
        ("no refresh", &plain),
        ("refresh = 0.8", &refreshed),
        (
            "refresh = 0.8, timeout (owned arguments: in a task)",
            &background,
        ),
    ] {
        println!(
            "| {name} | {} | {} | {:.2} | {} | {:.1} | {:.1} | {:.2} |",
            run.calls,
            run.loads,
            run.loads as f64 / seconds as f64,
            run.waited,
            run.p50.as_secs_f64() * 1e6,
            run.p99.as_secs_f64() * 1e6,
            run.p99.as_secs_f64() / steady.p99.as_secs_f64(),
        );
    }
    println!(
        "\n(A caller waited on a load when its call took 15 ms or more. With `refresh` alone, the\nrefresh runs in the claiming caller's future: that caller waits, one per expiry. With a\n`timeout` too, the read runs in a task and the claiming caller is answered with the hit.)\n"
    );
}
