//! §9: the cost of a call with Redis down.

use crate::Plan;
use crate::measure::{self};
use crate::workload::*;
use cache_core::Cache;
use std::time::{Duration, Instant};

pub(crate) async fn redis_down(plan: &Plan) {
    println!("## 9. Redis down (breaker open): added time per call\n");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let cache = Cache::builder()
        .redis_url(format!("redis://127.0.0.1:{dead}"))
        .lazy()
        .breaker(1, Duration::from_secs(3600))
        .build()
        .await
        .expect("lazy cache");
    cache_core::install(cache.clone());
    for _ in 0..3 {
        ours_small("t1").await.expect("runs uncached");
    }
    assert!(cache.is_breaker_open(), "the breaker is open");
    let mut direct = Vec::new();
    let mut ours = Vec::new();
    let batch = 1000;
    for _ in 0..plan.down_calls / batch {
        let t = Instant::now();
        for _ in 0..batch {
            std::hint::black_box(ours_small_direct().await.ok());
        }
        direct.push(t.elapsed() / batch as u32);
        let t = Instant::now();
        for _ in 0..batch {
            std::hint::black_box(ours_small("t1").await.ok());
        }
        ours.push(t.elapsed() / batch as u32);
    }
    let (direct, ours) = (
        measure::summarize(&mut direct).median,
        measure::summarize(&mut ours).median,
    );
    println!("| call | ns per call |");
    println!("|---|---|");
    println!(
        "| the function's body, called directly | {} |",
        direct.as_nanos()
    );
    println!(
        "| the #[cached] function, breaker open | {} |",
        ours.as_nanos()
    );
    println!(
        "| added | {} |",
        ours.as_nanos().saturating_sub(direct.as_nanos())
    );
    println!();
}

/// What `ours_small`'s body does, without the attribute.
pub(crate) async fn ours_small_direct() -> Result<Row, BenchError> {
    Ok(row(1))
}
