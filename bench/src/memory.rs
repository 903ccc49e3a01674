//! §6: the in-process memory backend.

use crate::workload::*;
use cache_core::Cache;
use redis::aio::ConnectionManager;

pub(crate) async fn memory(conn: &ConnectionManager, cache: &Cache) {
    println!("## 6. Memory in Redis per entry\n");
    let mut c = conn.clone();
    println!(
        "| value | JSON bytes | ours: MEMORY USAGE | A (plain JSON): MEMORY USAGE | key length ours / A |"
    );
    println!("|---|---|---|---|---|");
    for (label, json, ours_key, raw_key) in [
        (
            "small",
            json_len(&row(1)),
            our_keys(cache.namespace(), "ours_small").entry().to_owned(),
            "bench-raw:small",
        ),
        (
            "list",
            json_len(&page()),
            our_keys(cache.namespace(), "ours_list").entry().to_owned(),
            "bench-raw:list",
        ),
    ] {
        let usage = |key: String| {
            let mut c = c.clone();
            async move {
                redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(&key)
                    .query_async::<Option<u64>>(&mut c)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(0)
            }
        };
        let ours = usage(ours_key.clone()).await;
        let raw = usage(raw_key.to_owned()).await;
        println!(
            "| {label} | {json} | {ours} | {raw} | {} / {} |",
            ours_key.len(),
            raw_key.len()
        );
    }
    let generations: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(our_keys(cache.namespace(), "ours_list").scope_generation())
        .query_async::<Option<u64>>(&mut c)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    println!(
        "\nPlus one generation key per (prefix, tenant), shared by all its entries: {generations} B.\n"
    );
}
