//! The benchmark harness. `cargo run --release -p bench` (add `-- --quick` for a run under
//! a minute). Needs a Redis at `REDIS_URL` (default 127.0.0.1:6379); writes only keys under
//! `bench` namespaces and deletes them at the end. Prints markdown tables.

mod cluster;
mod measure;
mod workload;

/// One allocator for every variant (the baseline, ours and the peer alike): mimalloc by
/// default, glibc's malloc with `--no-default-features`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ALLOCATOR: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "the system's (glibc malloc)"
};

use cache_core::Cache;
use measure::{Call, call, ratio, sequential, throughput, us};
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use workload::*;

/// Sizes of one run.
struct Plan {
    rounds: usize,
    blocks: usize,
    window: Duration,
    miss_rounds: usize,
    invalidation_sizes: &'static [usize],
    others: usize,
    down_calls: usize,
}

const FULL: Plan = Plan {
    rounds: 20_000,
    blocks: 10,
    window: Duration::from_millis(500),
    miss_rounds: 5_000,
    invalidation_sizes: &[10, 1_000, 100_000],
    others: 100_000,
    down_calls: 1_000_000,
};

const QUICK: Plan = Plan {
    rounds: 3_000,
    blocks: 4,
    window: Duration::from_millis(250),
    miss_rounds: 1_000,
    invalidation_sizes: &[10, 1_000, 10_000],
    others: 10_000,
    down_calls: 200_000,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = if quick { &QUICK } else { &FULL };
    let client = redis::Client::open(redis_url()).expect("REDIS_URL parses");
    let conn = ConnectionManager::new(client)
        .await
        .expect("Redis answers at REDIS_URL");
    let cache = Cache::builder()
        .redis_url(redis_url())
        .namespace("bench")
        .build()
        .await
        .expect("cache");
    cache_core::install(cache.clone());
    let packed = Cache::builder()
        .redis_url(redis_url())
        .namespace("bench")
        .codec(cache_core::Codec::MessagePack)
        .build()
        .await
        .expect("cache");
    let _ = PACKED.set(packed);
    if let Some(seconds) = std::env::args()
        .skip_while(|a| a != "--profile-hits")
        .nth(1)
    {
        // A steady load of our hits only, for a profiler to sample.
        ours_small("t1").await.expect("fill");
        let seconds = seconds.parse().unwrap_or(10);
        let variant = if std::env::args().any(|a| a == "--baseline") {
            let json = serde_json::to_vec(&row(1)).expect("json");
            let mut c = conn.clone();
            let _: () = redis::cmd("SET")
                .arg("bench-raw:small")
                .arg(json)
                .arg("EX")
                .arg(600)
                .query_async(&mut c)
                .await
                .expect("SET");
            let c = Arc::new(conn.clone());
            call(move || {
                let c = c.clone();
                async move {
                    hand_get::<Row, _>(&*c, "bench-raw:small")
                        .await
                        .expect("A hit");
                }
            })
        } else {
            call(|| async {
                ours_small("t1").await.expect("hit");
            })
        };
        let rate = throughput(&[variant], 64, Duration::from_secs(seconds), 1).await;
        println!("{:.0} hits/s", rate[0]);
        return;
    }
    println!(
        "# cache-core benchmarks{}\n",
        if quick { " (--quick)" } else { "" }
    );
    println!(
        "Redis at {}, allocator: {ALLOCATOR} for every variant.\n",
        redis_url()
    );

    hits(&conn, plan).await;
    misses(&conn, plan).await;
    invalidation(&conn, &cache, plan).await;
    stampede(&conn).await;
    memory(&conn, &cache).await;
    cluster::hits(&conn, plan.rounds, plan.window, plan.blocks).await;
    cluster::slot_spread();
    redis_down(plan).await;

    // Clean up what this run wrote.
    cache.delete_pattern("*").await;
    let raw = Cache::builder()
        .redis_url(redis_url())
        .build()
        .await
        .expect("cache");
    for pattern in ["bench-raw:*", "cached-redis-store:bench_peer_*"] {
        raw.delete_pattern(pattern).await;
    }
}

async fn hits(conn: &ConnectionManager, plan: &Plan) {
    println!("## 1-2. Hit latency and throughput\n");
    let small_json = serde_json::to_vec(&row(1)).expect("json");
    let list_json = serde_json::to_vec(&page()).expect("json");
    let mut setter = conn.clone();
    for (key, json) in [
        ("bench-raw:small", &small_json),
        ("bench-raw:list", &list_json),
    ] {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(json)
            .arg("EX")
            .arg(600)
            .query_async(&mut setter)
            .await
            .expect("SET");
    }
    // Warm every cache: the first call of each is a miss.
    ours_small("t1").await.expect("ours");
    ours_list("t1").await.expect("ours");
    peer_small("t1".into()).await.expect("peer");
    peer_list("t1".into()).await.expect("peer");
    ours_small_msgpack("t1").await.expect("ours");
    ours_list_msgpack("t1").await.expect("ours");

    for (label, size, key) in [
        ("small", small_json.len(), "bench-raw:small"),
        ("list", list_json.len(), "bench-raw:list"),
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

async fn misses(conn: &ConnectionManager, plan: &Plan) {
    println!("## 3. Miss path (trivial loader)\n");
    let counter = Arc::new(AtomicU64::new(0));
    let unique =
        move || counter.fetch_add(1, Ordering::Relaxed) + 1_000_000 * u64::from(std::process::id());
    let (u1, u2, u3) = (
        Arc::new(unique.clone()),
        Arc::new(unique.clone()),
        Arc::new(unique),
    );
    let c = Arc::new(conn.clone());
    let variants: Vec<Call> = vec![
        call(move || {
            let (c, n) = (c.clone(), u1());
            async move {
                hand_miss(&c, &format!("bench-raw:miss:{n}"), n).await;
            }
        }),
        call(move || {
            let n = u2();
            async move {
                ours_miss("t1", n).await.expect("ours");
            }
        }),
        call(move || {
            let n = u3();
            async move {
                peer_miss(format!("m{n}")).await.expect("peer");
            }
        }),
    ];
    let seq = sequential(&variants, plan.miss_rounds).await;
    println!("| variant | p50 µs | p99 µs | p50 / A | Redis commands |");
    println!("|---|---|---|---|---|");
    for (name, s, sends) in [
        ("A: GET + load + SET EX (seed)", seq[0], "GET, SET EX"),
        (
            "ours: #[cached] miss",
            seq[1],
            "MGET, SET PX (generations exist)",
        ),
        (
            "peer: cached crate",
            seq[2],
            "GET pipeline, then GET+SET pipeline",
        ),
    ] {
        println!(
            "| {name} | {} | {} | {} | {sends} |",
            us(s.median),
            us(s.p99),
            ratio(s.median, seq[0].median)
        );
    }
    println!();
}

async fn invalidation(conn: &ConnectionManager, cache: &Cache, plan: &Plan) {
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
async fn median_of<F, Fut>(n: usize, op: F) -> Duration
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
async fn fill(conn: &mut ConnectionManager, prefix: &str, n: usize) {
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
async fn scan_unlink(conn: &mut ConnectionManager, pattern: &str) -> u64 {
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

static STAMPEDE_LOADS: AtomicUsize = AtomicUsize::new(0);

#[cache_core::cached(prefix = "bench", ttl = "1m", key = run)]
async fn slow_load(run: u64) -> Result<Row, BenchError> {
    STAMPEDE_LOADS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await; // the 50 ms loader being measured
    Ok(row(run))
}

async fn stampede(conn: &ConnectionManager) {
    println!("## 5. Stampede: 1,000 concurrent calls on one cold key, 50 ms loader\n");
    let run = std::process::id() as u64 * 1000 + 7;
    let (slowest, ours_wall) = storm(move || async move {
        slow_load(run).await.expect("load");
    })
    .await;
    let ours_loads = STAMPEDE_LOADS.load(Ordering::SeqCst);

    // The hand-written cache-aside has no single-flight: every caller that misses loads.
    let hand_loads = Arc::new(AtomicUsize::new(0));
    let key = Arc::new(format!("bench-raw:stampede:{run}"));
    let (conn, loads) = (conn.clone(), hand_loads.clone());
    let (hand_slowest, hand_wall) = storm(move || {
        let (conn, loads, key) = (conn.clone(), loads.clone(), key.clone());
        async move {
            if hand_get::<Row, _>(&conn, &key).await.is_none() {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await; // the same 50 ms loader
                let mut c = conn.clone();
                let _: Result<(), _> = redis::cmd("SET")
                    .arg(&*key)
                    .arg(serde_json::to_vec(&row(1)).unwrap_or_default())
                    .arg("EX")
                    .arg(60)
                    .query_async(&mut c)
                    .await;
            }
        }
    })
    .await;
    println!("| variant | loads executed | slowest caller (ms) | all done (ms) |");
    println!("|---|---|---|---|");
    println!(
        "| ours (single-flight) | {ours_loads} | {:.1} | {:.1} |",
        slowest.as_secs_f64() * 1e3,
        ours_wall.as_secs_f64() * 1e3
    );
    println!(
        "| A: hand-written | {} | {:.1} | {:.1} |",
        hand_loads.load(Ordering::SeqCst),
        hand_slowest.as_secs_f64() * 1e3,
        hand_wall.as_secs_f64() * 1e3
    );
    println!();
}

/// Runs 1,000 concurrent callers; returns the slowest caller's time and the total.
async fn storm<F, Fut>(caller: F) -> (Duration, Duration)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let call = caller();
            tokio::spawn(async move {
                let t = Instant::now();
                call.await;
                t.elapsed()
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for handle in handles {
        slowest = slowest.max(handle.await.expect("caller"));
    }
    (slowest, started.elapsed())
}

async fn memory(conn: &ConnectionManager, cache: &Cache) {
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

async fn redis_down(plan: &Plan) {
    println!("## 9. Redis down (breaker open): added time per call\n");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let cache = Cache::builder()
        .redis_url(format!("redis://127.0.0.1:{dead}"))
        .lazy()
        .breaker(1, Duration::from_secs(3600))
        .build()
        .await
        .expect("lazy cache");
    cache_core::install(cache.clone());
    for _ in 0..3 {
        ours_small("t1").await.expect("runs uncached");
    }
    assert!(cache.is_breaker_open(), "the breaker is open");
    let mut direct = Vec::new();
    let mut ours = Vec::new();
    let batch = 1000;
    for _ in 0..plan.down_calls / batch {
        let t = Instant::now();
        for _ in 0..batch {
            std::hint::black_box(ours_small_direct().await.ok());
        }
        direct.push(t.elapsed() / batch as u32);
        let t = Instant::now();
        for _ in 0..batch {
            std::hint::black_box(ours_small("t1").await.ok());
        }
        ours.push(t.elapsed() / batch as u32);
    }
    let (direct, ours) = (
        measure::summarize(&mut direct).median,
        measure::summarize(&mut ours).median,
    );
    println!("| call | ns per call |");
    println!("|---|---|");
    println!(
        "| the function's body, called directly | {} |",
        direct.as_nanos()
    );
    println!(
        "| the #[cached] function, breaker open | {} |",
        ours.as_nanos()
    );
    println!(
        "| added | {} |",
        ours.as_nanos().saturating_sub(direct.as_nanos())
    );
    println!();
}

/// The keys of `<name>("t1")`, a function of prefix `bench`, in namespace `ns`.
fn our_keys(ns: &str, name: &str) -> cache_core::key::CallKeys {
    let mut parts = cache_core::key::KeyParts::new();
    parts.scope("t1");
    cache_core::key::call_keys(ns, "bench", name, 0, &parts)
}

/// What `ours_small`'s body does, without the attribute.
async fn ours_small_direct() -> Result<Row, BenchError> {
    Ok(row(1))
}
