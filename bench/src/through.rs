//! §11: write-through. A write then a read of the written item: with a plain
//! invalidation the read is a miss (the generation created again, the load, the fill);
//! written through, it is a hit. The write itself pays one more round trip (it reads the
//! item's generations before its body) and its store is a script. Both writes invalidate
//! the item's tag, as the app's update does.

use crate::Plan;
use crate::measure::{Call, call, ratio, sequential, us};
use crate::workload::*;
use cache_core::{Cache, cached, invalidates};

#[cached(prefix = "throughbench", ttl = "10m", key = tenant, id, tag(item = id), write_through = true)]
async fn item(tenant: &str, id: u64) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(id))
}

#[invalidates("throughbench", key = tenant, tag(item = id))]
async fn update(tenant: &str, id: u64) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(id))
}

#[invalidates("throughbench", key = tenant, tag(item = id), write_through = item(tenant, id))]
async fn update_through(tenant: &str, id: u64) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(id))
}

pub(crate) async fn through(cache: &Cache, plan: &Plan) {
    println!("## 11. Write-through\n");
    item("t1", 1).await.expect("warm");
    item("t1", 2).await.expect("warm");
    let variants: Vec<Call> = vec![
        call(|| async {
            update("t1", 1).await.expect("write");
        }),
        call(|| async {
            update_through("t1", 2).await.expect("write");
        }),
        call(|| async {
            update("t1", 1).await.expect("write");
            item("t1", 1).await.expect("read");
        }),
        call(|| async {
            update_through("t1", 2).await.expect("write");
            item("t1", 2).await.expect("read");
        }),
    ];
    let before = cache.stats().site("throughbench", "item");
    let latency = sequential(&variants, plan.rounds).await;
    let after = cache.stats().site("throughbench", "item");
    println!("| write (small value) | p50 µs | p99 µs | p50 / invalidating write |");
    println!("|---|---|---|---|");
    for (i, name) in [
        "invalidate the item",
        "write through",
        "invalidate, then read the item",
        "write through, then read the item",
    ]
    .into_iter()
    .enumerate()
    {
        let base = latency[i - i % 2].median;
        println!(
            "| {name} | {} | {} | {} |",
            us(latency[i].median),
            us(latency[i].p99),
            ratio(latency[i].median, base)
        );
    }
    let (hits, misses) = (after.hits - before.hits, after.misses - before.misses);
    println!(
        "\nReads after the writes: {hits} hits, {misses} misses (one read per round of each \
         \"then read\" variant: the write-through's are the hits). The load here costs \
         nothing; a real one adds its query to every miss.\n"
    );
}
