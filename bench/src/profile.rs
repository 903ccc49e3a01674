//! `--profile-hits <seconds> [--baseline]`: a steady load of hits only (ours, or the
//! seed's with `--baseline`), for a profiler to sample or two builds to compare.

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
        let mut c = conn.clone();
        let _: () = redis::cmd("SET")
            .arg("bench-raw:small")
            .arg(json)
            .arg("EX")
            .arg(600)
            .query_async(&mut c)
            .await
            .expect("SET");
        let c = Arc::new(conn.clone());
        call(move || {
            let c = c.clone();
            async move {
                hand_get::<Row, _>(&*c, "bench-raw:small")
                    .await
                    .expect("A hit");
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
