//! §14: what exactness across a mixed fleet costs, each against what it replaced, in one
//! run: an invalidation announced on the backplane by every cache (a script that
//! `UNLINK`s and `PUBLISH`es) against the bare `UNLINK` a cache without a tier sent
//! before; the read of an `l1` site that goes to Redis (`MGET` and `PTTL` of the entry in
//! one pipeline) against the `MGET` alone; and the fleet's manifest exchange, once per
//! period.

use crate::Plan;
use crate::measure::{Call, call, ratio, sequential, us};
use crate::workload::*;
use cache_core::Cache;
use redis::aio::ConnectionManager;

pub(crate) async fn fleet(conn: &ConnectionManager, cache: &Cache, plan: &Plan) {
    println!("## 14. Exact across a mixed fleet: the added costs\n");
    let keys = our_keys(cache.namespace(), "fleet");
    let generation = keys.scope_generation().to_owned();
    let channel = format!("{}:!backplane", cache.namespace());
    let notice = {
        let mut message = b"k".to_vec();
        message.extend_from_slice(&(generation.len() as u32).to_be_bytes());
        message.extend_from_slice(generation.as_bytes());
        message
    };
    let unlink = {
        let (conn, generation) = (conn.clone(), generation.clone());
        call(move || {
            let (mut conn, generation) = (conn.clone(), generation.clone());
            async move {
                let _: u64 = redis::cmd("UNLINK")
                    .arg(&generation)
                    .query_async(&mut conn)
                    .await
                    .expect("UNLINK");
            }
        })
    };
    let announced = {
        let (conn, generation) = (conn.clone(), generation.clone());
        call(move || {
            let (mut conn, generation, channel, notice) = (
                conn.clone(),
                generation.clone(),
                channel.clone(),
                notice.clone(),
            );
            async move {
                let _: u64 = redis::cmd("EVAL")
                    .arg(cache_core::__private::raw::REMOVE_AND_PUBLISH)
                    .arg(1)
                    .arg(&generation)
                    .arg(&channel)
                    .arg(&notice)
                    .query_async(&mut conn)
                    .await
                    .expect("EVAL");
            }
        })
    };
    let library = {
        let cache = cache.clone();
        call(move || {
            let cache = cache.clone();
            async move { cache.invalidate("fleet", "acme").await }
        })
    };
    let s = sequential(&[unlink, announced, library], plan.rounds).await;
    println!("| invalidation of one scope | p50 (µs) | p99 (µs) | p50 / bare UNLINK |");
    println!("|---|---|---|---|");
    for (name, summary) in [
        ("bare `UNLINK` (a cache without a tier, before)", s[0]),
        ("`EVAL` `UNLINK` + `PUBLISH` (every cache, now)", s[1]),
        ("`Cache::invalidate` (the library, now)", s[2]),
    ] {
        println!(
            "| {name} | {} | {} | {} |",
            us(summary.median),
            us(summary.p99),
            ratio(summary.median, s[0].median)
        );
    }

    // The Redis read of an `l1` site: the entry's remaining TTL in the same round trip.
    let mut c = conn.clone();
    let _: () = redis::cmd("SET")
        .arg(keys.entry())
        .arg(vec![0u8; 200])
        .arg("PX")
        .arg(600_000)
        .query_async(&mut c)
        .await
        .expect("SET");
    let three: Vec<String> = vec![
        keys.prefix_generation().to_owned(),
        keys.scope_generation().to_owned(),
        keys.entry().to_owned(),
    ];
    let mget = {
        let (conn, three) = (conn.clone(), three.clone());
        call(move || {
            let (mut conn, three) = (conn.clone(), three.clone());
            async move {
                let _: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                    .arg(&three)
                    .query_async(&mut conn)
                    .await
                    .expect("MGET");
            }
        })
    };
    let with_ttl = {
        let (conn, three) = (conn.clone(), three.clone());
        call(move || {
            let (mut conn, three) = (conn.clone(), three.clone());
            async move {
                let _: (Vec<Option<Vec<u8>>>, i64) = redis::pipe()
                    .cmd("MGET")
                    .arg(&three)
                    .cmd("PTTL")
                    .arg(&three[2])
                    .query_async(&mut conn)
                    .await
                    .expect("MGET + PTTL");
            }
        })
    };
    let variants: Vec<Call> = vec![mget, with_ttl];
    let s = sequential(&variants, plan.rounds).await;
    println!(
        "\n| an `l1` read that goes to Redis | p50 (µs) | p99 (µs) | p50 / `MGET` |\n|---|---|---|---|"
    );
    for (name, summary) in [
        ("`MGET` of the entry and its generations (before)", s[0]),
        ("`MGET` + `PTTL` of the entry, one pipeline (now)", s[1]),
    ] {
        println!(
            "| {name} | {} | {} | {} |",
            us(summary.median),
            us(summary.p99),
            ratio(summary.median, s[0].median)
        );
    }
    let _: u64 = redis::cmd("UNLINK")
        .arg(&three)
        .query_async(&mut c)
        .await
        .expect("UNLINK");

    // The fleet: one exchange per period (default 5 s), measured as a cache builds.
    let started = std::time::Instant::now();
    let built = Cache::builder()
        .redis_url(redis_url())
        .namespace("bench")
        .build()
        .await
        .expect("cache");
    let build = started.elapsed();
    let peers = built.fleet().map_or(0, |fleet| fleet.peers.len());
    println!(
        "\nThe fleet's manifests: building a cache (connect, `PING`, the first exchange with {peers} peers) took {} µs; each later exchange is one script every 5 s per cache.\n",
        us(build)
    );
}
