//! §3: the miss path.

use crate::Plan;
use crate::measure::{Call, call, ratio, sequential, us};
use crate::workload::*;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) async fn misses(conn: &ConnectionManager, plan: &Plan) {
    println!("## 3. Miss path (trivial loader)\n");
    let counter = Arc::new(AtomicU64::new(0));
    let unique =
        move || counter.fetch_add(1, Ordering::Relaxed) + 1_000_000 * u64::from(std::process::id());
    let (u1, u2, u3) = (
        Arc::new(unique.clone()),
        Arc::new(unique.clone()),
        Arc::new(unique),
    );
    let c = Arc::new(conn.clone());
    let variants: Vec<Call> = vec![
        call(move || {
            let (c, n) = (c.clone(), u1());
            async move {
                hand_miss(&c, &format!("bench-raw:miss:{n}"), n).await;
            }
        }),
        call(move || {
            let n = u2();
            async move {
                ours_miss("t1", n).await.expect("ours");
            }
        }),
        call(move || {
            let n = u3();
            async move {
                peer_miss(format!("m{n}")).await.expect("peer");
            }
        }),
    ];
    let seq = sequential(&variants, plan.miss_rounds).await;
    println!("| variant | p50 µs | p99 µs | p50 / A | Redis commands |");
    println!("|---|---|---|---|---|");
    for (name, s, sends) in [
        ("A: GET + load + SET EX (seed)", seq[0], "GET, SET EX"),
        (
            "ours: #[cached] miss",
            seq[1],
            "MGET, SET PX (generations exist)",
        ),
        (
            "peer: cached crate",
            seq[2],
            "GET pipeline, then GET+SET pipeline",
        ),
    ] {
        println!(
            "| {name} | {} | {} | {} | {sends} |",
            us(s.median),
            us(s.p99),
            ratio(s.median, seq[0].median)
        );
    }
    println!();
}
