//! §5: 1,000 concurrent cold calls and the loads they cause.

use crate::workload::*;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How many times `slow_load` ran.
static STAMPEDE_LOADS: AtomicUsize = AtomicUsize::new(0);
pub(crate) async fn stampede(conn: &ConnectionManager) {
    println!("## 5. Stampede: 1,000 concurrent calls on one cold key, 50 ms loader\n");
    let run = std::process::id() as u64 * 1000 + 7;
    let (slowest, ours_wall) = storm(move || async move {
        slow_load(run).await.expect("load");
    })
    .await;
    let ours_loads = STAMPEDE_LOADS.load(Ordering::SeqCst);

    // The hand-written cache-aside has no single-flight: every caller that misses loads.
    let hand_loads = Arc::new(AtomicUsize::new(0));
    let key = Arc::new(format!("bench-raw:stampede:{run}"));
    let (conn, loads) = (conn.clone(), hand_loads.clone());
    let (hand_slowest, hand_wall) = storm(move || {
        let (conn, loads, key) = (conn.clone(), loads.clone(), key.clone());
        async move {
            if hand_get::<Row, _>(&conn, &key).await.is_none() {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await; // the same 50 ms loader
                let mut c = conn.clone();
                let _: Result<(), _> = redis::cmd("SET")
                    .arg(&*key)
                    .arg(serde_json::to_vec(&row(1)).unwrap_or_default())
                    .arg("EX")
                    .arg(60)
                    .query_async(&mut c)
                    .await;
            }
        }
    })
    .await;
    println!("| variant | loads executed | slowest caller (ms) | all done (ms) |");
    println!("|---|---|---|---|");
    println!(
        "| ours (single-flight) | {ours_loads} | {:.1} | {:.1} |",
        slowest.as_secs_f64() * 1e3,
        ours_wall.as_secs_f64() * 1e3
    );
    println!(
        "| A: hand-written | {} | {:.1} | {:.1} |",
        hand_loads.load(Ordering::SeqCst),
        hand_slowest.as_secs_f64() * 1e3,
        hand_wall.as_secs_f64() * 1e3
    );
    println!();
}

#[cache_core::cached(prefix = "bench", ttl = "1m", key = run)]
pub(crate) async fn slow_load(run: u64) -> Result<Row, BenchError> {
    STAMPEDE_LOADS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await; // the 50 ms loader being measured
    Ok(row(run))
}

/// Runs 1,000 concurrent callers; returns the slowest caller's time and the total.
pub(crate) async fn storm<F, Fut>(caller: F) -> (Duration, Duration)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let call = caller();
            tokio::spawn(async move {
                let t = Instant::now();
                call.await;
                t.elapsed()
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for handle in handles {
        slowest = slowest.max(handle.await.expect("caller"));
    }
    (slowest, started.elapsed())
}
