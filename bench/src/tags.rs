//! §10: tags. A hit with 0, 2 and 8 tags (each tag adds two keys to the hit's `MGET`),
//! and invalidating one tag value, in one scope and in every scope, whatever the number
//! of entries.

use crate::Plan;
use crate::invalidation::{fill, median_of, scan_unlink};
use crate::measure::{Call, call, ratio, sequential, throughput, us};
use crate::workload::*;
use cache_core::{Cache, cached, invalidates};
use redis::aio::ConnectionManager;

#[cached(prefix = "bench", ttl = "10m", key = tenant, name = "tags0")]
async fn tags0(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "bench", ttl = "10m", key = tenant, name = "tags2", tag(a = tenant, b = tenant))]
async fn tags2(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(
    prefix = "bench",
    ttl = "10m",
    key = tenant,
    name = "tags8",
    tag(a = tenant, b = tenant, c = tenant, d = tenant, e = tenant, f = tenant, g = tenant, h = tenant)
)]
async fn tags8(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[invalidates("tagbench", key = tenant, tag(item = item), cache = cache)]
async fn invalidate_in_scope(cache: &Cache, tenant: &str, item: u32) {}

#[invalidates("tagbench", tag(item = item), cache = cache)]
async fn invalidate_everywhere(cache: &Cache, item: u32) {}

pub(crate) async fn tags(conn: &ConnectionManager, cache: &Cache, plan: &Plan) {
    println!("## 10. Tags\n");
    for warm in [tags0("t1").await, tags2("t1").await, tags8("t1").await] {
        warm.expect("warm");
    }
    let variants: Vec<Call> = vec![
        call(|| async {
            tags0("t1").await.expect("hit");
        }),
        call(|| async {
            tags2("t1").await.expect("hit");
        }),
        call(|| async {
            tags8("t1").await.expect("hit");
        }),
    ];
    let latency = sequential(&variants, plan.rounds).await;
    let tput = throughput(&variants, 64, plan.window, plan.blocks).await;
    println!(
        "| hit (small value) | keys in the MGET | p50 µs | p99 µs | p50 / no tags | 64 tasks: calls/s | / no tags |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, (name, keys)) in [("no tags", 3), ("2 tags", 7), ("8 tags", 19)]
        .into_iter()
        .enumerate()
    {
        println!(
            "| {name} | {keys} | {} | {} | {} | {:.0} | {:.2} |",
            us(latency[i].median),
            us(latency[i].p99),
            ratio(latency[i].median, latency[0].median),
            tput[i],
            tput[i] / tput[0]
        );
    }

    println!(
        "\n| entries of the tenant | invalidate one tag value in its scope (µs) | in every scope (µs) |"
    );
    println!("|---|---|---|");
    let mut c = conn.clone();
    for &n in plan.invalidation_sizes {
        let tenant = format!("tagged-{n}");
        let entries = {
            let mut parts = cache_core::key::KeyParts::new();
            parts.scope(&tenant);
            cache_core::key::call_keys(cache.namespace(), "tagbench", "item", 0, &parts)
                .entry()
                .to_owned()
        };
        fill(&mut c, &entries, n).await;
        let scoped = median_of(50, || invalidate_in_scope(cache, &tenant, 7)).await;
        let everywhere = median_of(20, || invalidate_everywhere(cache, 7)).await;
        println!("| {n} | {} | {} |", us(scoped), us(everywhere));
        scan_unlink(&mut c, &format!("{entries}*")).await;
    }
    println!(
        "\nIn a scope: two `UNLINK`ed keys in the scope's slot. In every scope: the same two generations' {} per-bucket copies each.\n",
        cache_core::key::BUCKETS
    );
}
