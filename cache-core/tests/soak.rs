//! Load with faults: many tasks reading, writing and invalidating at once, on the shared
//! Redis and on private servers that are killed or fed bad data. Bounded in time
//! (`SOAK_SECONDS`, default 3, for the mixed soak).

mod common;

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::Cache;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use testkit::RedisServer;

static VERSIONED: Site = Site::new("soak", "version", Duration::from_secs(60), 0);

/// A source of truth: a version per tenant, bumped by writes; and per tenant the last
/// version whose write (source update, then invalidation) has returned.
#[derive(Default)]
struct Versions {
    by_tenant: Vec<AtomicU64>,
    committed: Vec<AtomicU64>,
}

impl Versions {
    fn new(tenants: usize) -> Arc<Versions> {
        Arc::new(Versions {
            by_tenant: (0..tenants).map(|_| AtomicU64::new(0)).collect(),
            committed: (0..tenants).map(|_| AtomicU64::new(0)).collect(),
        })
    }
}

/// A cached read of tenant `t`'s version: what the source says when the load runs.
async fn read_version(cache: &Cache, versions: &Versions, t: usize) -> Result<u64, String> {
    let mut parts = KeyParts::new();
    parts.scope(&format!("tenant-{t}"));
    __private::cached(
        ResultMode::<Result<u64, String>>::new(),
        &VERSIONED,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async {
            // A query reads its snapshot, then takes a while to come back.
            let version = versions.by_tenant[t].load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_micros(300)).await;
            Ok(version)
        },
    )
    .await
}

/// 64 tasks read, write (bump the source, then invalidate, as `#[invalidates]` does) and
/// invalidate whole prefixes. Every read must return at least the version of the last
/// write that had returned (source updated and invalidated) when the read started: a
/// lower one is a stale read after an invalidation returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_never_reads_stale_data() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let scoped = testkit::redis_cache("soak").await;
    let cache = scoped.cache.clone();
    let tenants = 8;
    let versions = Versions::new(tenants);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let reads = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..64u64 {
        let (cache, versions, reads) = (cache.clone(), versions.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = testkit::Rng::new(task.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            while Instant::now() < deadline {
                let t = rng.below(tenants as u64) as usize;
                match rng.below(100) {
                    0..=7 => {
                        let written = versions.by_tenant[t].fetch_add(1, Ordering::SeqCst) + 1;
                        cache.invalidate("soak", &format!("tenant-{t}")).await;
                        versions.committed[t].fetch_max(written, Ordering::SeqCst);
                    }
                    8 => {
                        let written: Vec<u64> = versions
                            .by_tenant
                            .iter()
                            .map(|v| v.fetch_add(1, Ordering::SeqCst) + 1)
                            .collect();
                        cache.invalidate_all("soak").await;
                        for (committed, written) in versions.committed.iter().zip(written) {
                            committed.fetch_max(written, Ordering::SeqCst);
                        }
                    }
                    _ => {
                        let before = versions.committed[t].load(Ordering::SeqCst);
                        let got = read_version(&cache, &versions, t)
                            .await
                            .expect("never an error");
                        assert!(
                            got >= before,
                            "stale read: tenant {t} gave {got} after {before} was written"
                        );
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("a task failed");
    }
    let stats = cache.stats().prefix("soak");
    assert!(reads.load(Ordering::Relaxed) > 1000, "the soak did work");
    assert!(stats.hits > 0, "and the cache served some of it: {stats:?}");
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert_eq!(
        cache.loads_in_flight(),
        0,
        "no single-flight entry is left behind"
    );
    assert_eq!(
        cache.pending_invalidations(),
        0,
        "no invalidation is left pending"
    );
}

/// Redis killed (SIGKILL) in the middle of a read-heavy load of 64 tasks: no call fails,
/// every result is the source's, and once the breaker is open calls cost next to nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load() {
    let mut server = RedisServer::start();
    let deadline_per_call = Duration::from_millis(100);
    let cache = testkit::test_builder(&server.url(), &testkit::unique_namespace("killed"))
        .op_timeout(deadline_per_call)
        .breaker(3, Duration::from_secs(60))
        .build()
        .await
        .expect("build");
    let versions = Versions::new(4);
    for (t, v) in versions.by_tenant.iter().enumerate() {
        v.store(t as u64 * 10, Ordering::SeqCst);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..64usize {
        let (cache, versions, stop) = (cache.clone(), versions.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut calls = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = (task + calls as usize) % 4;
                let started = Instant::now();
                let got = read_version(&cache, &versions, t).await;
                slowest = slowest.max(started.elapsed());
                assert_eq!(got, Ok(t as u64 * 10), "every result is the source's");
                calls += 1;
                tokio::task::yield_now().await;
            }
            (calls, slowest)
        }));
    }
    // Let the load reach the cache, then kill Redis under it.
    while cache.stats().prefix("soak").hits < 200 {
        tokio::task::yield_now().await;
    }
    server.kill();
    while !cache.is_breaker_open() {
        tokio::task::yield_now().await;
    }
    let loads_when_open = cache.stats().prefix("soak").loads;
    let started = Instant::now();
    while cache.stats().prefix("soak").loads < loads_when_open + 2000 {
        tokio::task::yield_now().await;
    }
    let per_call_open = started.elapsed() / 2000;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for task in tasks {
        let (calls, slowest) = task.await.expect("no task failed or hung");
        total += calls;
        assert!(slowest < deadline_per_call * 10, "a call took {slowest:?}");
    }
    assert!(total > 2000);
    assert!(
        per_call_open < Duration::from_millis(1),
        "with the breaker open, 64 tasks got through a call every {per_call_open:?}"
    );
}

/// Bad bytes under a real key: each is a miss, counted, never a panic, and the next fill
/// repairs it.
#[tokio::test]
async fn bad_data_under_a_real_key_is_a_counted_miss() {
    let scoped = testkit::redis_cache("bad-data").await;
    let cache = scoped.cache.clone();
    let client = redis::Client::open(testkit::redis_url()).expect("url");
    let mut raw = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let versions = Versions::new(1);
    read_version(&cache, &versions, 0).await.unwrap();
    let mut parts = KeyParts::new();
    parts.scope("tenant-0");
    let keys = cache_core::key::call_keys(cache.namespace(), "soak", "version", 0, &parts);
    let generations: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
        .arg(keys.prefix_generation())
        .arg(keys.scope_generation())
        .query_async(&mut raw)
        .await
        .unwrap();
    let (p, s) = (
        generations[0].clone().unwrap(),
        generations[1].clone().unwrap(),
    );
    let envelope = |flags: u8, payload: &[u8]| {
        let mut out = vec![0xC1, flags, p.len() as u8];
        out.extend_from_slice(&p);
        out.push(s.len() as u8);
        out.extend_from_slice(&s);
        out.extend_from_slice(payload);
        out
    };
    let mut rng = testkit::Rng::new(0x2545_F491_4F6C_DD1D);
    let random: Vec<u8> = (0..512).map(|_| rng.below(256) as u8).collect();
    let huge = envelope(0, &vec![b'7'; 8 * 1024 * 1024]); // 8 MB of digits: not a u64
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", random),
        ("empty", vec![]),
        ("truncated header", vec![0xC1, 0x00, 40, b'x']),
        ("future format version", {
            let mut e = envelope(0, b"7");
            e[0] = 0xC2;
            e
        }),
        ("unknown codec", envelope(0x0E, b"7")),
        ("JSON of another type", envelope(0, b"{\"a\":[1,2]}")),
        (
            "number out of range",
            envelope(0, b"12345678901234567890123"),
        ),
        ("truncated JSON", envelope(0, b"[1,")),
        ("huge value", huge),
    ];
    let mut expected_errors = 0;
    for (name, bytes) in cases {
        let _: () = redis::cmd("SET")
            .arg(keys.entry())
            .arg(&bytes)
            .query_async(&mut raw)
            .await
            .unwrap();
        versions.by_tenant[0].fetch_add(1, Ordering::SeqCst);
        let now = versions.by_tenant[0].load(Ordering::SeqCst);
        assert_eq!(
            read_version(&cache, &versions, 0).await,
            Ok(now),
            "{name}: a miss, the source's value"
        );
        expected_errors += 1;
        assert_eq!(
            cache.stats().prefix("soak").decode_errors,
            expected_errors,
            "{name}: counted"
        );
        let loads = cache.stats().prefix("soak").loads;
        assert_eq!(
            read_version(&cache, &versions, 0).await,
            Ok(now),
            "{name}: repaired"
        );
        assert_eq!(
            cache.stats().prefix("soak").loads,
            loads,
            "{name}: the repaired entry is a hit"
        );
    }
}

/// One tenant's invalidation never touches another's, over adversarial tenant names.
#[tokio::test]
async fn tenant_isolation_over_adversarial_names() {
    let scoped = testkit::redis_cache("isolation").await;
    let cache = scoped.cache.clone();
    let names: Vec<String> = vec![
        "".into(),
        ":".into(),
        "*".into(),
        "a*".into(),
        "a".into(),
        "{a}".into(),
        "a}".into(),
        "{".into(),
        "%3A".into(),
        "a:b".into(),
        "a%3Ab".into(),
        "~null".into(),
        "!".into(),
        "#00".into(),
        "é".into(),
        "e\u{301}".into(),
        " ".into(),
        "\n".into(),
        "x".repeat(300),
        "x".repeat(301),
    ];
    static SITE: Site = Site::new("iso", "list", Duration::from_secs(60), 0);
    let loads: HashMap<String, AtomicU64> = names
        .iter()
        .map(|n| (n.clone(), AtomicU64::new(0)))
        .collect();
    let read = |name: &String| {
        let (cache, loads) = (cache.clone(), &loads);
        let name = name.clone();
        async move {
            let mut parts = KeyParts::new();
            parts.scope(&name);
            __private::cached(
                ResultMode::<Result<String, ()>>::new(),
                &SITE,
                Some(cache),
                parts,
                __private::ReadOptions::new(),
                async {
                    loads[&name].fetch_add(1, Ordering::SeqCst);
                    Ok(name.clone())
                },
            )
            .await
        }
    };
    for name in &names {
        assert_eq!(
            read(name).await,
            Ok(name.clone()),
            "no two tenants share an entry"
        );
    }
    for victim in &names {
        cache.invalidate("iso", victim).await;
        for name in &names {
            let before = loads[name].load(Ordering::SeqCst);
            assert_eq!(read(name).await, Ok(name.clone()));
            let reloaded = loads[name].load(Ordering::SeqCst) > before;
            assert_eq!(
                reloaded,
                name == victim,
                "invalidating {victim:?} reloaded {name:?}: {reloaded}"
            );
        }
    }
}
