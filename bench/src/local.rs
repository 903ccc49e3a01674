//! §12: the in-process tier (`l1`). The hit of an `l1` site against the seed's `GET` +
//! decode, our Redis hit and the `cached` crate, small and list values, one call at a time
//! and with 64 tasks; and what an invalidation costs when it is published.

use crate::Plan;
use crate::measure::{Call, call, ratio, sequential, throughput, us};
use crate::workload::*;
use cache_core::{Cache, cached, invalidates};
use redis::aio::ConnectionManager;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The cache with a tier (same Redis, same namespace as the others).
pub static LOCAL: OnceLock<Cache> = OnceLock::new();

#[cached(prefix = "bench", name = "small_l1", ttl = "10m", l1 = "10m", key = tenant, cache = LOCAL.get())]
async fn ours_small_l1(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "bench", name = "list_l1", ttl = "10m", l1 = "10m", key = tenant, cache = LOCAL.get())]
async fn ours_list_l1(tenant: &str) -> Result<Page, BenchError> {
    let _ = tenant;
    Ok(page())
}

#[cached(prefix = "bench", name = "small_l1_arc", ttl = "10m", l1 = "10m", key = tenant, cache = LOCAL.get())]
async fn ours_small_l1_arc(tenant: &str) -> Result<Arc<Row>, BenchError> {
    let _ = tenant;
    Ok(Arc::new(row(1)))
}

#[cached(prefix = "bench", name = "list_l1_arc", ttl = "10m", l1 = "10m", key = tenant, cache = LOCAL.get())]
async fn ours_list_l1_arc(tenant: &str) -> Result<Arc<Page>, BenchError> {
    let _ = tenant;
    Ok(Arc::new(page()))
}

#[invalidates("benchinv", key = tenant)]
async fn write_plain(tenant: &str) -> Result<(), BenchError> {
    let _ = tenant;
    Ok(())
}

#[invalidates("benchinv", key = tenant, cache = LOCAL.get())]
async fn write_published(tenant: &str) -> Result<(), BenchError> {
    let _ = tenant;
    Ok(())
}

pub(crate) async fn local(conn: &ConnectionManager, plan: &Plan) {
    println!("## 12. The in-process tier (`l1`)\n");
    let cache = Cache::builder()
        .redis_url(redis_url())
        .namespace("bench")
        .l1(64 << 20)
        .build()
        .await
        .expect("cache with a tier");
    let started = std::time::Instant::now();
    while !cache.l1_stats().is_some_and(|tier| tier.fresh) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "l1 never fresh"
        );
        tokio::time::sleep(Duration::from_millis(5)).await; // pacing while polling
    }
    let _ = LOCAL.set(cache);
    let (small_len, list_len) = put_raw_values(conn).await;
    for _ in 0..2 {
        ours_small("t1").await.expect("ours");
        ours_list("t1").await.expect("ours");
        ours_small_l1("t1").await.expect("ours");
        ours_list_l1("t1").await.expect("ours");
        ours_small_l1_arc("t1").await.expect("ours");
        ours_list_l1_arc("t1").await.expect("ours");
        peer_small("t1".into()).await.expect("peer");
        peer_list("t1".into()).await.expect("peer");
    }
    if let Some(seconds) = std::env::args()
        .skip_while(|a| a != "--profile-l1")
        .nth(1)
        .and_then(|s| s.parse::<u64>().ok())
    {
        // A steady loop of small-value hits of the tier, for a profiler.
        let until = std::time::Instant::now() + Duration::from_secs(seconds);
        let mut calls = 0u64;
        let started = std::time::Instant::now();
        while std::time::Instant::now() < until {
            for _ in 0..1000 {
                std::hint::black_box(ours_small_l1("t1").await.expect("ours"));
            }
            calls += 1000;
        }
        println!(
            "{:.0} ns per hit",
            started.elapsed().as_nanos() as f64 / calls as f64
        );
        return;
    }
    for (label, size, key) in [
        ("small", small_len, "bench-raw:small"),
        ("list", list_len, "bench-raw:list"),
    ] {
        let small = key.ends_with("small");
        let c = Arc::new(conn.clone());
        let variants: Vec<Call> = vec![
            call(move || {
                let c = c.clone();
                async move {
                    match small {
                        true => drop(hand_get::<Row, _>(&*c, key).await.expect("A hit")),
                        false => drop(hand_get::<Page, _>(&*c, key).await.expect("A hit")),
                    }
                }
            }),
            call(move || async move {
                match small {
                    true => drop(ours_small("t1").await.expect("ours")),
                    false => drop(ours_list("t1").await.expect("ours")),
                }
            }),
            call(move || async move {
                match small {
                    true => drop(ours_small_l1("t1").await.expect("ours")),
                    false => drop(ours_list_l1("t1").await.expect("ours")),
                }
            }),
            call(move || async move {
                match small {
                    true => drop(peer_small("t1".into()).await.expect("peer")),
                    false => drop(peer_list("t1".into()).await.expect("peer")),
                }
            }),
            call(move || async move {
                match small {
                    true => drop(ours_small_l1_arc("t1").await.expect("ours")),
                    false => drop(ours_list_l1_arc("t1").await.expect("ours")),
                }
            }),
        ];
        let seq = sequential(&variants, plan.rounds).await;
        let tput = throughput(&variants, 64, plan.window, plan.blocks).await;
        let a = seq[0];
        println!("### {label} value ({size} B of JSON)\n");
        println!("| variant | p50 µs | p99 µs | p50 / A | 64 tasks: calls/s | / A | / peer |");
        println!("|---|---|---|---|---|---|---|");
        for (i, name) in [
            "A: GET + serde_json (seed)",
            "ours: #[cached] Redis hit (one MGET)",
            "ours: #[cached(l1 = \"10m\")] hit",
            "peer: cached crate #[concurrent_cached] (MessagePack)",
            "ours: #[cached(l1 = \"10m\")] hit of a site returning `Arc<T>`",
        ]
        .iter()
        .enumerate()
        {
            println!(
                "| {name} | {} | {} | {} | {:.0} | {:.2} | {:.2} |",
                us(seq[i].median),
                us(seq[i].p99),
                ratio(seq[i].median, a.median),
                tput[i],
                tput[i] / tput[0],
                tput[i] / tput[3],
            );
        }
        println!();
    }
    // The tier's hits back to back, without Redis calls in between (interleaved with
    // round trips, each hit starts on a thread just woken, its caches cold).
    let alone: Vec<Call> = vec![
        call(|| async { drop(ours_small_l1("t1").await.expect("ours")) }),
        call(|| async { drop(ours_list_l1("t1").await.expect("ours")) }),
        call(|| async { drop(ours_small_l1_arc("t1").await.expect("ours")) }),
        call(|| async { drop(ours_list_l1_arc("t1").await.expect("ours")) }),
    ];
    let seq = sequential(&alone, plan.rounds * 20).await;
    println!("### The tier's hits back to back\n");
    println!("| variant | p50 µs | p99 µs |");
    println!("|---|---|---|");
    for (i, name) in [
        "small value",
        "list value",
        "small value, `Arc<Row>`",
        "list value, `Arc<Page>`",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "| {name} | {:.2} | {:.2} |",
            seq[i].median.as_secs_f64() * 1e6,
            seq[i].p99.as_secs_f64() * 1e6
        );
    }
    println!();
    let variants: Vec<Call> = vec![
        call(|| async { write_plain("t1").await.expect("write") }),
        call(|| async { write_published("t1").await.expect("write") }),
    ];
    let seq = sequential(&variants, plan.rounds).await;
    // Every Redis cache announces its invalidations now, tier or not (§14 compares the
    // script with the bare `UNLINK` a cache without a tier sent before).
    println!("### An invalidation, by a cache without a tier and by one with a tier\n");
    println!("| variant | p50 µs | p99 µs | p50 / without |");
    println!("|---|---|---|---|");
    for (i, name) in [
        "a cache without a tier (`UNLINK` and `PUBLISH` in one script)",
        "a cache with an l1 tier (the same script)",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "| {name} | {} | {} | {} |",
            us(seq[i].median),
            us(seq[i].p99),
            ratio(seq[i].median, seq[0].median),
        );
    }
    println!();
    println!(
        "A hit of the tier builds the call's keys, looks the entry up (moka), checks that the view is fresh and that its tokens are the view's, and clones the value out; nothing reaches Redis.\n"
    );
}
