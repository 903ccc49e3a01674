//! §1-2: hit latency and throughput against the seed, the floors and the peer.

use crate::Plan;
use crate::measure::{Call, call, ratio, sequential, throughput, us};
use crate::workload::*;
use redis::aio::ConnectionManager;
use std::sync::Arc;

pub(crate) async fn hits(conn: &ConnectionManager, plan: &Plan) {
    println!("## 1-2. Hit latency and throughput\n");
    let (small_len, list_len) = put_raw_values(conn).await;
    // Warm every cache: the first call of each is a miss.
    ours_small("t1").await.expect("ours");
    ours_list("t1").await.expect("ours");
    peer_small("t1".into()).await.expect("peer");
    peer_list("t1".into()).await.expect("peer");
    ours_small_msgpack("t1").await.expect("ours");
    ours_list_msgpack("t1").await.expect("ours");

    for (label, size, key) in [
        ("small", small_len, "bench-raw:small"),
        ("list", list_len, "bench-raw:list"),
    ] {
        let (c1, c2, c3) = (
            Arc::new(conn.clone()),
            Arc::new(conn.clone()),
            Arc::new(conn.clone()),
        );
        let name = if key.ends_with("small") {
            "ours_small"
        } else {
            "ours_list"
        };
        let ours_keys = our_keys("bench", name);
        let keys = Arc::new([
            ours_keys.prefix_generation().to_owned(),
            ours_keys.scope_generation().to_owned(),
            ours_keys.entry().to_owned(),
        ]);
        let variants: Vec<Call> = vec![
            call(move || {
                let (c, keys) = (c3.clone(), keys.clone());
                async move {
                    let values = raw_mget(&c, &keys).await.expect("MGET");
                    assert!(values.iter().all(Option::is_some), "our three keys exist");
                }
            }),
            call(move || {
                let c = c1.clone();
                async move {
                    raw_get(&c, key).await.expect("floor hit");
                }
            }),
            call(move || {
                let c = c2.clone();
                async move {
                    if key.ends_with("small") {
                        hand_get::<Row, _>(&*c, key).await.expect("A hit");
                    } else {
                        hand_get::<Page, _>(&*c, key).await.expect("A hit");
                    }
                }
            }),
            call(move || async move {
                if key.ends_with("small") {
                    ours_small("t1").await.expect("ours");
                } else {
                    ours_list("t1").await.expect("ours");
                }
            }),
            call(move || async move {
                if key.ends_with("small") {
                    peer_small("t1".into()).await.expect("peer");
                } else {
                    peer_list("t1".into()).await.expect("peer");
                }
            }),
            call(move || async move {
                if key.ends_with("small") {
                    ours_small_msgpack("t1").await.expect("ours");
                } else {
                    ours_list_msgpack("t1").await.expect("ours");
                }
            }),
        ];
        let seq = sequential(&variants, plan.rounds).await;
        let tput = throughput(&variants, 64, plan.window, plan.blocks).await;
        let tput_mget = tput[0];
        let (mget, floor, a, ours, peer, packed) = (seq[0], seq[1], seq[2], seq[3], seq[4], seq[5]);
        let tput = &tput[1..];
        println!("### {label} value ({size} B of JSON)\n");
        println!("| variant | p50 µs | p99 µs | p50 / A | p99 / A | 64 tasks: calls/s | / A |");
        println!("|---|---|---|---|---|---|---|");
        for (name, s, t) in [
            ("floor: raw GET, no decode", floor, tput[0]),
            (
                "floor of our layout: raw MGET of the 3 keys, no decode",
                mget,
                tput_mget,
            ),
            ("A: GET + serde_json (seed)", a, tput[1]),
            ("ours: #[cached] hit (one MGET)", ours, tput[2]),
            (
                "peer: cached crate #[concurrent_cached] (MessagePack)",
                peer,
                tput[3],
            ),
            (
                "ours, `msgpack` feature: Codec::MessagePack",
                packed,
                tput[4],
            ),
        ] {
            println!(
                "| {name} | {} | {} | {} | {} | {:.0} | {:.2} |",
                us(s.median),
                us(s.p99),
                ratio(s.median, a.median),
                ratio(s.p99, a.p99),
                t,
                t / tput[1]
            );
        }
        println!();
    }
    println!(
        "Per call, Redis sees: A one `GET`; ours one `MGET` of 3 keys (prefix generation, scope generation, entry); the peer a pipeline of one `GET` (plus `PEXPIRE` with refresh, off here).\n"
    );
}
