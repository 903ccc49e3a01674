//! §21: coalesced hits. 64 tasks of hits on Redis, with coalescing (the default) and
//! without it (`coalesce_hits(false)`, a second cache on the same entries), against the
//! hand-written `GET` + decode: on one hot key, on 64 keys (64 tenants), and with 2
//! declared tags; the sequential p50 of each beside.

use crate::Plan;
use crate::measure::{Call, call, ratio, sequential, throughput, us};
use crate::workload::*;
use cache_core::{Cache, cached};
use redis::aio::ConnectionManager;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The same namespace and entries as the installed cache, coalescing off.
static OFF: OnceLock<Cache> = OnceLock::new();

#[cached(prefix = "bench", name = "ours_small", ttl = "10m", key = tenant, cache = OFF.get())]
async fn off_small(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "bench", name = "ours_list", ttl = "10m", key = tenant, cache = OFF.get())]
async fn off_list(tenant: &str) -> Result<Page, BenchError> {
    let _ = tenant;
    Ok(page())
}

#[cached(prefix = "bench", name = "tags2", ttl = "10m", key = tenant, tag(a = tenant, b = tenant))]
async fn tags2(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "bench", name = "tags2", ttl = "10m", key = tenant, tag(a = tenant, b = tenant), cache = OFF.get())]
async fn off_tags2(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

/// 64 tenants, and the raw key of each for the hand-written read.
fn tenants() -> &'static [(String, String, String)] {
    static TENANTS: OnceLock<Vec<(String, String, String)>> = OnceLock::new();
    TENANTS.get_or_init(|| {
        (0..64)
            .map(|i| {
                (
                    format!("t{i}"),
                    format!("bench-raw:small:{i}"),
                    format!("bench-raw:list:{i}"),
                )
            })
            .collect()
    })
}

/// The next tenant, round robin over the 64 (every variant pays the same counter).
fn next() -> &'static (String, String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let all = tenants();
    &all[NEXT.fetch_add(1, Ordering::Relaxed) % all.len()]
}

pub(crate) async fn coalesce(conn: &ConnectionManager, plan: &Plan) {
    println!("## 21. Coalesced hits\n");
    let off = Cache::builder()
        .redis_url(redis_url())
        .namespace("bench")
        .coalesce_hits(false)
        .build()
        .await
        .expect("cache");
    let _ = OFF.set(off);
    put_raw_values(conn).await;
    let (small_json, list_json) = (
        serde_json::to_vec(&row(1)).expect("json"),
        serde_json::to_vec(&page()).expect("json"),
    );
    for (tenant, small, list) in tenants() {
        set_raw(conn, small, &small_json).await;
        set_raw(conn, list, &list_json).await;
        ours_small(tenant).await.expect("warm");
        ours_list(tenant).await.expect("warm");
        tags2(tenant).await.expect("warm");
    }
    let conn = Arc::new(conn.clone());
    for label in ["small", "list"] {
        let small = label == "small";
        let (c1, c2) = (conn.clone(), conn.clone());
        let variants: Vec<Call> = vec![
            call(move || {
                let c = c1.clone();
                async move {
                    match small {
                        true => drop(hand_get::<Row, _>(&*c, "bench-raw:small").await),
                        false => drop(hand_get::<Page, _>(&*c, "bench-raw:list").await),
                    }
                }
            }),
            call(move || async move {
                match small {
                    true => drop(ours_small("t1").await.expect("hit")),
                    false => drop(ours_list("t1").await.expect("hit")),
                }
            }),
            call(move || async move {
                match small {
                    true => drop(off_small("t1").await.expect("hit")),
                    false => drop(off_list("t1").await.expect("hit")),
                }
            }),
            call(move || {
                let c = c2.clone();
                async move {
                    let (_, small_key, list_key) = next();
                    match small {
                        true => drop(hand_get::<Row, _>(&*c, small_key).await),
                        false => drop(hand_get::<Page, _>(&*c, list_key).await),
                    }
                }
            }),
            call(move || async move {
                let (tenant, _, _) = next();
                match small {
                    true => drop(ours_small(tenant).await.expect("hit")),
                    false => drop(ours_list(tenant).await.expect("hit")),
                }
            }),
            call(move || async move {
                let (tenant, _, _) = next();
                match small {
                    true => drop(off_small(tenant).await.expect("hit")),
                    false => drop(off_list(tenant).await.expect("hit")),
                }
            }),
        ];
        let seq = sequential(&variants, plan.rounds).await;
        let tput = throughput(&variants, 64, plan.window, plan.blocks).await;
        println!("### {label} value\n");
        println!("| variant | p50 µs | p50 / A | 64 tasks: calls/s | / A | / coalescing off |");
        println!("|---|---|---|---|---|---|");
        let rows = [
            ("A: GET + serde_json, one key", 0, 0, 0),
            ("ours, coalesced, one key", 1, 0, 2),
            ("ours, coalescing off, one key", 2, 0, 2),
            ("A: GET + serde_json, 64 keys", 3, 3, 3),
            ("ours, coalesced, 64 tenants", 4, 3, 5),
            ("ours, coalescing off, 64 tenants", 5, 3, 5),
        ];
        for (name, i, base, off) in rows {
            let vs_off = match i == off || i == base {
                true => "".to_owned(),
                false => format!("{:.2}", tput[i] / tput[off]),
            };
            println!(
                "| {name} | {} | {} | {:.0} | {:.2} | {vs_off} |",
                us(seq[i].median),
                ratio(seq[i].median, seq[base].median),
                tput[i],
                tput[i] / tput[base],
            );
        }
        println!();
    }
    // Tags: two declared tags (four more keys in the hit's read) against none.
    let variants: Vec<Call> = vec![
        call(|| async move {
            let (tenant, _, _) = next();
            drop(ours_small(tenant).await.expect("hit"));
        }),
        call(|| async move {
            let (tenant, _, _) = next();
            drop(tags2(tenant).await.expect("hit"));
        }),
        call(|| async move {
            let (tenant, _, _) = next();
            drop(off_small(tenant).await.expect("hit"));
        }),
        call(|| async move {
            let (tenant, _, _) = next();
            drop(off_tags2(tenant).await.expect("hit"));
        }),
    ];
    let seq = sequential(&variants, plan.rounds).await;
    let tput = throughput(&variants, 64, plan.window, plan.blocks).await;
    println!("### 2 declared tags against none (small value, 64 tenants)\n");
    println!("| variant | p50 µs | p50 / no tags | 64 tasks: calls/s | / no tags |");
    println!("|---|---|---|---|---|");
    for (name, i, base) in [
        ("coalesced, no tags", 0, 0),
        ("coalesced, 2 tags", 1, 0),
        ("coalescing off, no tags", 2, 2),
        ("coalescing off, 2 tags", 3, 2),
    ] {
        println!(
            "| {name} | {} | {} | {:.0} | {:.2} |",
            us(seq[i].median),
            ratio(seq[i].median, seq[base].median),
            tput[i],
            tput[i] / tput[base],
        );
    }
    println!();
}
