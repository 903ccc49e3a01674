//! Redis Cluster rows: hits on a cluster of 3 masters and 3 replicas against the same
//! calls on the single node, in one run; and how the key layout spreads a tenant
//! population over the slots.

use crate::measure::{Call, call, ratio, sequential, throughput, us};
use crate::workload::*;
use cache_core::Cache;
use cache_core::key::{KeyParts, call_keys};
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::time::Duration;

/// The cluster to measure: `REDIS_CLUSTER_URLS`, else a private one started here (kept
/// alive by the returned guard).
fn cluster_urls() -> (Vec<String>, Option<testkit::RedisCluster>) {
    if let Ok(urls) = std::env::var("REDIS_CLUSTER_URLS")
        && !urls.is_empty()
    {
        return (urls.split(',').map(str::to_owned).collect(), None);
    }
    let cluster = testkit::RedisCluster::start();
    (cluster.urls(), Some(cluster))
}

/// Section 8: hit latency and throughput, cluster against single node.
pub async fn hits(conn: &ConnectionManager, rounds: usize, window: Duration, blocks: usize) {
    println!("## 7. Redis Cluster against the single node (hits, small value)\n");
    let (urls, guard) = cluster_urls();
    let private = guard.is_some();
    let cache = Cache::builder()
        .cluster_urls(urls.clone())
        .namespace("bench")
        .build()
        .await
        .expect("the cluster answers");
    let _ = CLUSTER.set(cache.clone());
    let client = redis::cluster::ClusterClient::new(urls.clone()).expect("cluster URLs parse");
    let cluster_conn = client
        .get_async_connection()
        .await
        .expect("the cluster answers");
    let json = serde_json::to_vec(&row(1)).expect("json");
    let mut setter = cluster_conn.clone();
    let _: () = redis::cmd("SET")
        .arg("bench-raw:small")
        .arg(&json)
        .arg("EX")
        .arg(600)
        .query_async(&mut setter)
        .await
        .expect("SET on the cluster");
    ours_small("t1").await.expect("fill");
    ours_small_cluster("t1").await.expect("fill");

    let single = Arc::new(conn.clone());
    let on_cluster = Arc::new(cluster_conn.clone());
    let variants: Vec<Call> = vec![
        call(move || {
            let c = single.clone();
            async move {
                hand_get::<Row, _>(&*c, "bench-raw:small")
                    .await
                    .expect("A hit");
            }
        }),
        call(|| async {
            ours_small("t1").await.expect("ours");
        }),
        call(move || {
            let c = on_cluster.clone();
            async move {
                hand_get::<Row, _>(&*c, "bench-raw:small")
                    .await
                    .expect("A hit");
            }
        }),
        call(|| async {
            ours_small_cluster("t1").await.expect("ours");
        }),
    ];
    let seq = sequential(&variants, rounds).await;
    let tput = throughput(&variants, 64, window, blocks).await;
    println!(
        "| deployment | variant | p50 µs | p99 µs | p50 / A (same deployment) | 64 tasks: calls/s | / A |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, (deployment, variant)) in [
        ("single node", "A: GET + serde_json"),
        ("single node", "ours: #[cached] hit"),
        ("cluster", "A: GET + serde_json"),
        ("cluster", "ours: #[cached] hit"),
    ]
    .into_iter()
    .enumerate()
    {
        let a = i / 2 * 2;
        println!(
            "| {deployment} | {variant} | {} | {} | {} | {:.0} | {:.2} |",
            us(seq[i].median),
            us(seq[i].p99),
            ratio(seq[i].median, seq[a].median),
            tput[i],
            tput[i] / tput[a]
        );
    }
    println!(
        "\nOurs on the cluster / ours on the single node: p50 {}, throughput {:.2}. The cluster {} on this machine, sharing its 2 cores with the benchmark.\n",
        ratio(seq[3].median, seq[1].median),
        tput[3] / tput[1],
        if private {
            "is 6 private redis-server processes"
        } else {
            "is the one at REDIS_CLUSTER_URLS"
        }
    );
    let single_cache = cache_core::installed().expect("the bench installs its cache");
    println!("| invalidation | single node µs | cluster µs |");
    println!("|---|---|---|");
    for (name, single, clustered) in [
        (
            "`invalidate` (one scope: one `UNLINK`)",
            crate::invalidation::median_of(50, || single_cache.invalidate("bench", "t9")).await,
            crate::invalidation::median_of(50, || cache.invalidate("bench", "t9")).await,
        ),
        (
            "`invalidate_all` (`UNLINK` of 1024 copies; per slot on a cluster, in parallel)",
            crate::invalidation::median_of(50, || single_cache.invalidate_all("bench-all")).await,
            crate::invalidation::median_of(50, || cache.invalidate_all("bench-all")).await,
        ),
    ] {
        println!("| {name} | {} | {} |", us(single), us(clustered));
    }
    println!();
    cache.delete_pattern("*").await;
    let raw = Cache::builder().cluster_urls(urls).build().await;
    if let Ok(raw) = raw {
        raw.delete_pattern("bench-raw:*").await;
    }
}

/// The seed's key prefixes.
const PREFIXES: [&str; 10] = [
    "session",
    "user",
    "fmpa",
    "formation",
    "personnel",
    "conversation",
    "notification",
    "tta",
    "stats",
    "chat",
];

/// What one layout does to the slots under a traffic model.
struct Spread {
    slots_used: usize,
    keys_per_slot_max: usize,
    keys_per_slot_mean: f64,
    /// The share of hits that read the busiest slot.
    hottest_slot: f64,
    /// The share of slot reads each master serves.
    per_master: [f64; 3],
}

/// Spreads `pairs` (prefix, tenant, share of hits) over slots: each hit reads the slots
/// `slots_of` gives.
/// The slots one hit of (prefix, tenant) reads, by their indices.
type SlotsOf<'a> = dyn Fn(usize, usize) -> Vec<u16> + 'a;

fn spread(pairs: &[(usize, usize, f64)], slots_of: &SlotsOf<'_>) -> Spread {
    let mut traffic = vec![0f64; 16384];
    let mut keys = vec![0usize; 16384];
    for &(p, t, share) in pairs {
        let slots = slots_of(p, t);
        keys[usize::from(slots[0])] += 1;
        for slot in slots {
            traffic[usize::from(slot)] += share;
        }
    }
    let used: Vec<usize> = keys.iter().copied().filter(|&k| k > 0).collect();
    let hits: f64 = pairs.iter().map(|p| p.2).sum();
    let total: f64 = traffic.iter().sum();
    let mut per_master = [0f64; 3];
    for (slot, t) in traffic.iter().enumerate() {
        // The default split of `redis-cli --cluster create` over 3 masters.
        let master = match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        per_master[master] += t / total;
    }
    Spread {
        slots_used: used.len(),
        keys_per_slot_max: used.iter().copied().max().unwrap_or(0),
        keys_per_slot_mean: used.iter().sum::<usize>() as f64 / used.len().max(1) as f64,
        hottest_slot: traffic.iter().copied().fold(0.0, f64::max) / hits,
        per_master,
    }
}

/// Section 8: the spread of a tenant population's keys and hits over slots.
pub fn slot_spread() {
    const TENANTS: usize = 1000;
    println!(
        "## 8. Keys and hits over slots: {TENANTS} tenants × the seed's {} prefixes\n",
        PREFIXES.len()
    );
    // Zipf (s = 1) over tenants: tenant k gets 1/k of the traffic, up to a constant; or
    // every tenant alike. The prefixes are read alike.
    let harmonic: f64 = (1..=TENANTS).map(|k| 1.0 / k as f64).sum();
    let population = |zipf: bool| -> Vec<(usize, usize, f64)> {
        (0..PREFIXES.len())
            .flat_map(|p| {
                (0..TENANTS).map(move |t| {
                    let weight = if zipf {
                        1.0 / ((t + 1) as f64 * harmonic)
                    } else {
                        1.0 / TENANTS as f64
                    };
                    (p, t, weight / PREFIXES.len() as f64)
                })
            })
            .collect()
    };
    let tenant = |t: usize| format!("sdis-{t:03}");
    let ours = |p: usize, t: usize| {
        let mut parts = KeyParts::new();
        parts.scope(&tenant(t));
        let keys = call_keys("app", PREFIXES[p], "list", 0, &parts);
        vec![cache_core::slot::of(keys.entry())]
    };
    // Format c1, for comparison: the scope's slot, and one prefix generation key per
    // prefix in a slot of its own, read by every hit of the prefix.
    let c1 = |p: usize, t: usize| {
        vec![
            cache_core::slot::of(&format!("app:c1:{{{}:{}}}", PREFIXES[p], tenant(t))),
            cache_core::slot::of(&format!("app:c1:{{{}}}", PREFIXES[p])),
        ]
    };
    println!(
        "| layout | slots used | (prefix, tenant) pairs per used slot: max / mean | Zipf: hits reading the hottest slot (/ hottest pair's) | uniform: same | slot reads per master, Zipf (3 masters) |"
    );
    println!("|---|---|---|---|---|---|");
    let layouts: [(&str, &SlotsOf<'_>); 2] = [
        (
            "c2 (ours): 1024 buckets per prefix, prefix generation copied per bucket",
            &ours,
        ),
        ("c1: one prefix generation key per prefix", &c1),
    ];
    for (name, slots_of) in layouts {
        let (zipf, uniform) = (population(true), population(false));
        let hottest = |pairs: &[(usize, usize, f64)]| pairs.iter().map(|p| p.2).fold(0.0, f64::max);
        let (z, u) = (spread(&zipf, slots_of), spread(&uniform, slots_of));
        println!(
            "| {name} | {} | {} / {:.2} | {:.2}% ({:.2}) | {:.3}% ({:.1}) | {:.1}% / {:.1}% / {:.1}% |",
            z.slots_used,
            z.keys_per_slot_max,
            z.keys_per_slot_mean,
            z.hottest_slot * 100.0,
            z.hottest_slot / hottest(&zipf),
            u.hottest_slot * 100.0,
            u.hottest_slot / hottest(&uniform),
            z.per_master[0] * 100.0,
            z.per_master[1] * 100.0,
            z.per_master[2] * 100.0,
        );
    }
    println!(
        "\nUnder Zipf the hottest (prefix, tenant) pair draws {:.2}% of hits; uniformly, {:.3}%. A ratio of 1 means the hottest slot is hot only because that tenant is; above 1, the layout puts more on it.\n",
        100.0 / (harmonic * PREFIXES.len() as f64),
        100.0 / (TENANTS * PREFIXES.len()) as f64
    );
}
