//! §4: invalidating a tenant, ours against SCAN + UNLINK, at growing sizes.

use crate::Plan;
use crate::measure::{self, ratio, us};
use cache_core::Cache;
use redis::aio::ConnectionManager;
use std::time::{Duration, Instant};

pub(crate) async fn invalidation(conn: &ConnectionManager, cache: &Cache, plan: &Plan) {
    println!(
        "## 4. Invalidating one tenant, among {} entries of other tenants\n",
        plan.others
    );
    let mut c = conn.clone();
    // Other tenants' entries, for both layouts.
    fill(&mut c, "bench-raw:inv:other", plan.others).await;
    let ns = cache.namespace().to_owned();
    println!("| tenant entries | ours: invalidate (µs) | SCAN MATCH + UNLINK (µs) | SCAN / ours |");
    println!("|---|---|---|---|");
    for &n in plan.invalidation_sizes {
        // Ours: the entries exist (in our layout), the invalidation is one SET whatever n.
        let prefix = {
            let mut parts = cache_core::key::KeyParts::new();
            parts.scope(&format!("big-{n}"));
            cache_core::key::call_keys(&ns, "inv", "list", 0, &parts)
                .entry()
                .to_owned()
        };
        fill(&mut c, &prefix, n).await;
        let tenant = format!("big-{n}");
        let ours = median_of(50, || cache.invalidate("inv", &tenant)).await;
        // Baseline: SCAN + UNLINK of the tenant's keys; refilled before each sample.
        let samples = if n >= 100_000 { 1 } else { 3 };
        let mut scan = Vec::new();
        for _ in 0..samples {
            fill(&mut c, &format!("bench-raw:inv:tenant-{n}"), n).await;
            let started = Instant::now();
            let deleted = scan_unlink(&mut c, &format!("bench-raw:inv:tenant-{n}:*")).await;
            scan.push(started.elapsed());
            assert_eq!(
                deleted, n as u64,
                "the baseline deleted every key of the tenant"
            );
        }
        let scan = measure::summarize(&mut scan).median;
        println!(
            "| {n} | {} | {} | {} |",
            us(ours),
            us(scan),
            ratio(scan, ours)
        );
        scan_unlink(&mut c, &format!("{prefix}*")).await;
    }
    scan_unlink(&mut c, "bench-raw:inv:other:*").await;
    println!(
        "\n`invalidate_all` (one `UNLINK` of the prefix generation's {} copies, whatever the number of entries): {} µs (median of 50).\n",
        cache_core::key::BUCKETS,
        us(median_of(50, || cache.invalidate_all("inv")).await)
    );
}

/// The median time of `n` runs of `op`.
pub(crate) async fn median_of<F, Fut>(n: usize, op: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        op().await;
        samples.push(started.elapsed());
    }
    measure::summarize(&mut samples).median
}

/// Writes `n` small keys `<prefix>:<i>` with pipelines.
pub(crate) async fn fill(conn: &mut ConnectionManager, prefix: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET")
                .arg(format!("{prefix}:{i}"))
                .arg("x")
                .arg("EX")
                .arg(600)
                .ignore();
        }
        let _: () = pipe.query_async(conn).await.expect("fill");
    }
}

/// The hand-written invalidation: SCAN MATCH + UNLINK in batches.
pub(crate) async fn scan_unlink(conn: &mut ConnectionManager, pattern: &str) -> u64 {
    let (mut cursor, mut deleted) = (0u64, 0u64);
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            deleted += redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<u64>(conn)
                .await
                .expect("UNLINK");
        }
        if next == 0 {
            return deleted;
        }
        cursor = next;
    }
}
