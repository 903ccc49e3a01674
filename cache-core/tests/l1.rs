//! The in-process tier (`l1`) and its backplane, on the Redis this run targets (one
//! server, the private cluster, TLS): hits served in process, invalidations from another
//! cache reaching it within the bound δ, the byte bound.

mod common;

use cache_core::Cache;
use common::staleness::{self, Db, L1_ITEM, read_version, until_fresh, write};
use std::time::{Duration, Instant};
use testkit::{ScopedCache, Target};

const BOUND: Duration = Duration::from_millis(300);

/// Two caches (two "processes") on one namespace, each with its tier; the first cleans up.
async fn pair(test: &str) -> (ScopedCache, Cache, Cache) {
    let scoped = testkit::redis_cache(test).await;
    let target = Target::from_env();
    let tiered = || async {
        target
            .builder(scoped.namespace())
            .l1(1 << 20)
            .l1_bound(BOUND)
            .build()
            .await
            .expect("a cache with a tier")
    };
    let (a, b) = (tiered().await, tiered().await);
    until_fresh(&a).await;
    until_fresh(&b).await;
    (scoped, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_are_served_in_process() {
    let (_scoped, a, _b) = pair("l1_hits").await;
    let db = Db::default();
    db.bump(0);
    assert_eq!(read_version(&a, &db, 0).await, 1);
    for _ in 0..10 {
        assert_eq!(read_version(&a, &db, 0).await, 1);
    }
    let stats = a.stats().site("l1", "item");
    assert_eq!(stats.loads, 1);
    assert_eq!(stats.local_hits, 10, "{stats:?}");
    let tier = a.l1_stats().expect("a tier");
    assert_eq!(tier.entries, 1);
    assert!(tier.fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_sees_its_own_invalidation_at_once() {
    let (_scoped, a, _b) = pair("l1_own").await;
    let db = Db::default();
    assert_eq!(read_version(&a, &db, 0).await, 0);
    assert_eq!(read_version(&a, &db, 0).await, 0);
    let (version, landed) = write(&a, &db, 0).await;
    assert!(landed);
    assert_eq!(read_version(&a, &db, 0).await, version);
    a.invalidate_all("l1").await;
    db.bump(0);
    assert_eq!(read_version(&a, &db, 0).await, version + 1);
}

/// Another cache's invalidation: old reads may go on for at most δ after it returned,
/// and then the new version is read.
async fn reaches_within_the_bound(wide: bool) {
    let (_scoped, a, b) = pair("l1_elsewhere").await;
    let db = Db::default();
    for tenant in 0..2 {
        read_version(&a, &db, tenant).await;
        read_version(&a, &db, tenant).await;
    }
    assert_eq!(a.stats().site("l1", "item").local_hits, 2);
    let version = db.bump(1);
    match wide {
        true => b.invalidate_all("l1").await,
        false => b.invalidate("l1", "t1").await,
    }
    staleness::until_current(&a, &db, 1, version, Instant::now(), BOUND).await;
    // The other tenant's value is untouched by a scope's invalidation.
    let hits = a.stats().site("l1", "item").local_hits;
    read_version(&a, &db, 0).await;
    let kept = a.stats().site("l1", "item").local_hits > hits;
    assert_eq!(kept, !wide, "tenant 0 kept in the tier: {kept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_elsewhere_reaches_the_tier_within_the_bound() {
    reaches_within_the_bound(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_prefix_invalidation_elsewhere_empties_the_view() {
    reaches_within_the_bound(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_stays_under_its_byte_bound() {
    static BIG: cache_core::__private::Site =
        cache_core::__private::Site::new("l1big", "page", Duration::from_secs(60), 0)
            .with_l1(Duration::from_secs(60));
    let scoped = testkit::redis_cache("l1_bound").await;
    const MAX: u64 = 64 * 1024;
    let cache = Target::from_env()
        .builder(scoped.namespace())
        .l1(MAX)
        .build()
        .await
        .expect("cache");
    until_fresh(&cache).await;
    // 10x the bound: 640 values of ~1 KiB.
    for page in 0..640u32 {
        let mut parts = cache_core::__private::KeyParts::new();
        parts.scope("acme").arg(&page);
        let value = cache_core::__private::cached_local(
            cache_core::__private::ValueMode::<String>::new(),
            &BIG,
            Some(cache.clone()),
            parts,
            async move { format!("{page:04}").repeat(256) },
        )
        .await;
        assert_eq!(value.len(), 1024);
    }
    let tier = cache.l1_stats().expect("a tier");
    assert!(tier.bytes <= MAX, "{tier:?}");
    assert!(tier.entries > 10, "{tier:?}");
}

/// The seeded schedule: ≥ 10,000 reads in one cache while the other writes and
/// invalidates; no old read more than δ after an invalidation returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_stays_within_the_bound() {
    let (_scoped, a, b) = pair("l1_schedule").await;
    let (reads, _seed, mut rng) = testkit::seeded_run("L1_SCHEDULE", 10_000);
    let report = staleness::run(&a, &b, reads as usize, &mut rng).await;
    report.print("l1 staleness");
    assert!(
        report.max() <= BOUND,
        "max {:?} > δ {BOUND:?}",
        report.max()
    );
    assert!(report.landed > 100, "too few writes to say anything");
    assert!(report.local_hits > 0, "the tier served nothing");
    let _ = &L1_ITEM;
}

/// A fill whose load began before another cache's invalidation, and ends after this
/// cache heard of it: its value is not kept in the tier (it would be served as current).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_that_raced_an_invalidation_is_not_kept() {
    let (_scoped, a, b) = pair("l1_race").await;
    let db = std::sync::Arc::new(Db::default());
    let (loaded_tx, loaded_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let slow = {
        let (a, db) = (a.clone(), db.clone());
        tokio::spawn(async move {
            cache_core::__private::cached_local(
                cache_core::__private::ResultMode::<Result<u64, String>>::new(),
                &L1_ITEM,
                Some(a),
                staleness::tenant_parts(0),
                async move {
                    let version = db.get(0);
                    let _ = loaded_tx.send(());
                    let _ = release_rx.await;
                    Ok(version)
                },
            )
            .await
        })
    };
    loaded_rx.await.expect("the load started");
    let notices = a.l1_stats().expect("a tier").notices;
    let (version, landed) = write(&b, &db, 0).await;
    assert!(landed);
    let started = Instant::now();
    while a.l1_stats().expect("a tier").notices == notices {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no notice heard"
        );
        tokio::time::sleep(Duration::from_millis(2)).await; // pacing while polling
    }
    release_tx.send(()).expect("release the load");
    assert_eq!(slow.await.expect("the slow read"), Ok(0));
    assert_eq!(read_version(&a, &db, 0).await, version);
}
