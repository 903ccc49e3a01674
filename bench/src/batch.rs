//! §20: batch reads (`#[cached(batch = ids)]`). 100 ids of which 90 are cached (each call
//! asks for 10 ids never asked before): one round trip, one call of the function with the
//! 10, against one single-id hit and 100 single-id hits one after another; the commands
//! Redis ran per call, read from `INFO commandstats`.

use crate::Plan;
use crate::measure::{Call, call, ratio, sequential, us};
use crate::workload::*;
use cache_core::cached;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Calls of the batch function, and the ids they were given.
static LOADS: AtomicU64 = AtomicU64::new(0);
static LOADED_IDS: AtomicU64 = AtomicU64::new(0);
/// The next id never asked before.
static FRESH: AtomicU64 = AtomicU64::new(1_000_000);

#[cached(prefix = "benchbatch", ttl = "2m", key = tenant, id)]
async fn one(tenant: &str, id: u64) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(id))
}

#[cached(prefix = "benchbatch", name = "one", ttl = "2m", key = tenant, batch = ids)]
async fn many(tenant: &str, ids: &[u64]) -> Result<HashMap<u64, Row>, BenchError> {
    let _ = tenant;
    LOADS.fetch_add(1, Ordering::Relaxed);
    LOADED_IDS.fetch_add(ids.len() as u64, Ordering::Relaxed);
    Ok(ids.iter().map(|&id| (id, row(id))).collect())
}

/// 90 cached ids and 10 fresh ones.
fn ninety_and_ten() -> Vec<u64> {
    let fresh = FRESH.fetch_add(10, Ordering::Relaxed);
    (0..90).chain(fresh..fresh + 10).collect()
}

/// The calls of `command` Redis has run, from `INFO commandstats`.
async fn calls_of(conn: &ConnectionManager, command: &str) -> u64 {
    testkit::command_calls(&mut conn.clone(), command).await
}

pub(crate) async fn batch(conn: &ConnectionManager, plan: &Plan) {
    println!("## 20. Batch reads (`#[cached(batch = ids)]`)\n");
    let all: Vec<u64> = (0..100).collect();
    many("t1", &all).await.expect("fill");
    // Commands and loads per call, over 100 calls of 90 cached + 10 new ids.
    let (mget, set, before) = (
        calls_of(conn, "mget").await,
        calls_of(conn, "set").await,
        LOADS.load(Ordering::Relaxed),
    );
    let ids_before = LOADED_IDS.load(Ordering::Relaxed);
    for _ in 0..100 {
        many("t1", &ninety_and_ten()).await.expect("batch");
    }
    let per_call = |now: u64, then: u64| (now - then) as f64 / 100.0;
    println!(
        "100 ids of which 90 cached, per call: {:.2} `MGET`, {:.2} `SET` (one pipeline), {:.2} calls of the function with {:.1} ids each.\n",
        per_call(calls_of(conn, "mget").await, mget),
        per_call(calls_of(conn, "set").await, set),
        per_call(LOADS.load(Ordering::Relaxed), before),
        (LOADED_IDS.load(Ordering::Relaxed) - ids_before) as f64
            / (LOADS.load(Ordering::Relaxed) - before).max(1) as f64,
    );
    let variants: Vec<Call> = vec![
        call(|| async { drop(one("t1", 5).await.expect("hit")) }),
        call(|| async { drop(many("t1", &ninety_and_ten()).await.expect("batch")) }),
        call(|| async {
            let all: Vec<u64> = (0..100).collect();
            drop(many("t1", &all).await.expect("batch"))
        }),
        call(|| async {
            for id in 0..100 {
                drop(one("t1", id).await.expect("hit"));
            }
        }),
    ];
    let rounds = (plan.rounds / 10).max(300);
    let seq = sequential(&variants, rounds).await;
    println!("| variant | p50 µs | p99 µs | p50 / one hit | 100 single hits / this |");
    println!("|---|---|---|---|---|");
    for (i, name) in [
        "one single-id hit (one MGET)",
        "a batch of 100 ids, 90 cached (MGET, one load of 10, SET pipeline)",
        "a batch of 100 ids, all cached (one MGET)",
        "100 single-id hits, one after another",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "| {name} | {} | {} | {} | {} |",
            us(seq[i].median),
            us(seq[i].p99),
            ratio(seq[i].median, seq[0].median),
            ratio(seq[3].median, seq[i].median),
        );
    }
    println!();
}
