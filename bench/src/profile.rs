//! `--profile-hits <seconds> [--baseline | --tenants [--tags]]`: a steady load of hits only
//! (ours, on 64 tenants with `--tenants`, with 2 declared tags with `--tags`, or the seed's
//! with `--baseline`), for a profiler to sample or two builds to compare.

use crate::measure::{call, throughput};
use crate::workload::*;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::time::Duration;

/// Our hits (or the seed's) for `seconds` under 64 tasks; prints the rate.
pub(crate) async fn hits(conn: &ConnectionManager, seconds: u64) {
    // A steady load of our hits only, for a profiler to sample.
    ours_small("t1").await.expect("fill");
    let variant = if std::env::args().any(|a| a == "--baseline") {
        let json = serde_json::to_vec(&row(1)).expect("json");
        set_raw(conn, "bench-raw:small", &json).await;
        let c = Arc::new(conn.clone());
        call(move || {
            let c = c.clone();
            async move {
                hand_get::<Row, _>(&*c, "bench-raw:small")
                    .await
                    .expect("A hit");
            }
        })
    } else if std::env::args().any(|a| a == "--tenants") {
        let tags = std::env::args().any(|a| a == "--tags");
        // 64 tenants, round robin: hits that share no key.
        let tenants: Arc<Vec<String>> = Arc::new((0..64).map(|i| format!("t{i}")).collect());
        for tenant in tenants.iter() {
            ours_small(tenant).await.expect("fill");
            tags2_hit(tenant).await.expect("fill");
        }
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        call(move || {
            let (tenants, next) = (tenants.clone(), next.clone());
            async move {
                let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % tenants.len();
                match tags {
                    true => drop(tags2_hit(&tenants[at]).await.expect("hit")),
                    false => drop(ours_small(&tenants[at]).await.expect("hit")),
                }
            }
        })
    } else {
        call(|| async {
            ours_small("t1").await.expect("hit");
        })
    };
    let rate = throughput(&[variant], 64, Duration::from_secs(seconds), 1).await;
    println!("{:.0} hits/s", rate[0]);
}

/// `--sizes`: the size of a hit's future, which whoever awaits it moves (and boxes, as a
/// web framework does with its handlers).
pub(crate) fn sizes() {
    println!(
        "ours_small future: {} B",
        std::mem::size_of_val(&ours_small("t1"))
    );
    println!(
        "ours_list future: {} B",
        std::mem::size_of_val(&ours_list("t1"))
    );
}

#[cache_core::cached(prefix = "bench", name = "tags2", ttl = "10m", key = tenant, tag(a = tenant, b = tenant))]
async fn tags2_hit(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}
