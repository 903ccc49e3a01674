//! The in-process tier (`l1`) and its backplane, on the Redis this run targets (one
//! server, the private cluster, TLS): hits served in process, invalidations from another
//! cache reaching it within the bound δ, the byte bound.

mod common;

use cache_core::Cache;
use common::staleness::{self, Db, L1_ITEM, read_version, until_fresh, write};
use std::future::Future;
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
        let value = cache_core::__private::cached(
            cache_core::__private::ValueMode::<String>::new(),
            &BIG,
            Some(cache.clone()),
            parts,
            cache_core::__private::ReadOptions::new().local(),
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
            cache_core::__private::cached(
                cache_core::__private::ResultMode::<Result<u64, String>>::new(),
                &L1_ITEM,
                Some(a),
                staleness::tenant_parts(0),
                cache_core::__private::ReadOptions::new().local(),
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

/// A site kept in the tier whose entries also depend on a tag (the row's id).
static L1_TAGGED: cache_core::__private::Site =
    cache_core::__private::Site::new("l1", "tagged", Duration::from_secs(60), 0)
        .with_l1(Duration::from_secs(30));

fn tagged_parts(tenant: usize) -> cache_core::__private::KeyParts {
    let mut parts = staleness::tenant_parts(tenant);
    parts.tag("row", &tenant);
    parts
}

async fn read_tagged(cache: &Cache, db: &Db, tenant: usize) -> u64 {
    staleness::read_at(&L1_TAGGED, tagged_parts(tenant), cache, db, tenant).await
}

/// How a process without a tier invalidates what a tier holds.
#[derive(Debug, Clone, Copy)]
enum PlainWrite {
    Scope,
    Prefix,
    Tag,
    TagEverywhere,
    WriteThrough,
    DeletePattern,
}

/// `#[invalidates]` with a write-through, as the attribute expands it: the read's
/// generations captured before the body, the new version stored after it.
async fn write_through(cache: &Cache, db: &Db, tenant: usize) -> u64 {
    use cache_core::__private::{self, ResultMode, Through};
    let handle = Some(cache.clone());
    let through = Through::new(
        &L1_TAGGED,
        tagged_parts(tenant),
        ResultMode::<Result<u64, String>>::new(),
    );
    let captured = __private::capture(&handle, through).await;
    let version = db.bump(tenant);
    let out: Result<u64, String> = Ok(version);
    let mut parts = cache_core::__private::KeyParts::new();
    parts.scope(&format!("t{tenant}")).tag("row", &tenant);
    __private::invalidate_through(handle, &[(&["l1"][..], &parts)], captured, &out).await;
    version
}

/// A reader with a tier and a writer with none (the default of `Cache::builder()` and
/// `from_env`, a worker, a command-line tool): every kind of invalidation the writer makes
/// reaches the reader's tier within δ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_without_a_tier_reaches_the_tier_within_the_bound() {
    for how in [
        PlainWrite::Scope,
        PlainWrite::Prefix,
        PlainWrite::Tag,
        PlainWrite::TagEverywhere,
        PlainWrite::WriteThrough,
        PlainWrite::DeletePattern,
    ] {
        let (scoped, reader, _) = pair("l1_plain_writer").await;
        let writer = &scoped.cache;
        assert!(writer.l1_stats().is_none(), "the writer has no tier");
        let db = Db::default();
        for _ in 0..3 {
            read_tagged(&reader, &db, 1).await;
        }
        assert!(
            reader.stats().site("l1", "tagged").local_hits >= 1,
            "{how:?}: the tier serves the value"
        );
        let version = match how {
            PlainWrite::WriteThrough => write_through(writer, &db, 1).await,
            _ => {
                let version = db.bump(1);
                let mut parts = cache_core::__private::KeyParts::new();
                match how {
                    PlainWrite::Scope => writer.invalidate("l1", "t1").await,
                    PlainWrite::Prefix => writer.invalidate_all("l1").await,
                    PlainWrite::Tag | PlainWrite::TagEverywhere => {
                        if let PlainWrite::Tag = how {
                            parts.scope("t1");
                        }
                        parts.tag("row", &1usize);
                        let handle = Some(writer.clone());
                        cache_core::__private::invalidate(handle, &[(&["l1"][..], &parts)]).await;
                    }
                    _ => {
                        writer.delete_pattern("*").await;
                    }
                }
                version
            }
        };
        assert_eq!(writer.pending_invalidations(), 0, "{how:?} landed");
        let returned = Instant::now();
        loop {
            let began = Instant::now();
            if read_tagged(&reader, &db, 1).await == version {
                break;
            }
            assert!(
                began - returned <= BOUND,
                "{how:?}: an old version read {:?} after the writer's invalidation returned (δ {BOUND:?})",
                began - returned
            );
            tokio::time::sleep(Duration::from_millis(1)).await; // pacing between reads
        }
    }
}

/// `delete_pattern` dropped by its caller after its first poll (its deletion may have
/// begun): the notice that every tier forget what it knows is owed, counted as pending,
/// and published by the retry task; the other process's tier hears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_by_pattern_dropped_halfway_still_tells_the_tiers() {
    let (scoped, reader, _) = pair("l1_delete_dropped").await;
    let writer = &scoped.cache;
    let db = Db::default();
    read_version(&reader, &db, 0).await;
    // The scenario needs the deletion under way after its first poll. A connection that
    // failed just then (seen once in 12 runs of this suite on the TLS server) ends it at
    // once, its notice owed and retried: then wait for that retry and try again.
    let mut notices = reader.l1_stats().expect("a tier").notices;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut deletion = std::pin::pin!(writer.delete_pattern("*"));
        let polled = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(deletion.as_mut().poll(cx).is_ready())
        })
        .await;
        if !polled {
            break;
        }
        assert!(
            attempts < 5,
            "the deletion needs Redis: done at its first poll {attempts} times"
        );
        let started = Instant::now();
        while writer.pending_invalidations() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "a retry never landed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await; // pacing while polling
        }
        // The retried notice reaches the reader before the next attempt counts from it.
        while reader.l1_stats().expect("a tier").notices == notices {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the retried notice never came"
            );
            tokio::time::sleep(Duration::from_millis(10)).await; // pacing while polling
        }
        notices = reader.l1_stats().expect("a tier").notices;
    }
    assert_eq!(
        writer.pending_invalidations(),
        1,
        "the notice is owed once the caller gave up"
    );
    let started = Instant::now();
    while writer.pending_invalidations() > 0
        || reader.l1_stats().expect("a tier").notices == notices
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the owed notice was never published"
        );
        tokio::time::sleep(Duration::from_millis(5)).await; // pacing while polling
    }
}

/// A value read from Redis enters the tier for at most what remains of its entry's TTL:
/// a value that changes without an invalidation (freshness by TTL only) is reloaded once
/// the entry has expired, as without a tier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_value_never_outlives_its_entry() {
    use cache_core::__private::{self, ResultMode, Site};
    static SHORT: Site =
        Site::new("l1ttl", "item", Duration::from_secs(1), 0).with_l1(Duration::from_secs(1));
    let (scoped, reader, _) = pair("l1_entry_ttl").await;
    let read = |cache: &Cache, version: u64| {
        __private::cached(
            ResultMode::<Result<u64, String>>::new(),
            &SHORT,
            Some(cache.clone()),
            staleness::tenant_parts(0),
            cache_core::__private::ReadOptions::new().local(),
            async move { Ok(version) },
        )
    };
    // Filled by a process without a tier; its TTL runs from before this returns.
    assert_eq!(read(&scoped.cache, 0).await, Ok(0));
    let filled = Instant::now();
    // A real delay: most of the entry's TTL goes by before the tier reads it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(read(&reader, 1).await, Ok(0), "a hit on Redis");
    assert_eq!(read(&reader, 1).await, Ok(0), "a hit in the tier");
    assert_eq!(reader.stats().site("l1ttl", "item").local_hits, 1);
    // A real delay: the entry's TTL ends.
    tokio::time::sleep(
        (filled + Duration::from_millis(1050)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert_eq!(
        read(&reader, 1).await,
        Ok(1),
        "the tier served a value past its entry's TTL"
    );
}

/// A list indexed by the items it holds, kept in the tier: removals by result tag reach
/// the tiers (the removal script names the entries it removed).
mod indexed {
    use super::{BOUND, pair};
    use cache_core::{Cache, cached, invalidates};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    #[cached(prefix = "l1list", ttl = "1m", l1 = "30s", key = tenant, tag(item = |page: &(Vec<u32>, u64)| page.0.clone()), cache = cache)]
    async fn list(cache: &Cache, version: &AtomicU64, tenant: &str) -> (Vec<u32>, u64) {
        (vec![1, 2, 3], version.load(Ordering::SeqCst))
    }

    #[invalidates("l1list", key = tenant, tag(item = id), cache = cache)]
    async fn rename(cache: &Cache, version: &AtomicU64, tenant: &str, id: u32) -> u64 {
        version.fetch_add(1, Ordering::SeqCst) + 1
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removal_by_result_tag_reaches_every_tier() {
        let (_scoped, a, b) = pair("l1_indexed").await;
        let plain = testkit::Target::from_env()
            .builder(_scoped.namespace())
            .build()
            .await
            .expect("a cache without a tier");
        let version = AtomicU64::new(0);
        for _ in 0..3 {
            assert_eq!(list(&a, &version, "t1").await.1, 0);
            assert_eq!(list(&b, &version, "t1").await.1, 0);
        }
        assert_eq!(a.stats().site("l1list", "list").local_hits, 2);
        assert_eq!(b.stats().site("l1list", "list").local_hits, 2);
        // Its own removal: at once.
        let now = rename(&a, &version, "t1", 2).await;
        assert_eq!(list(&a, &version, "t1").await.1, now);
        // Another's, from a process without a tier: within the bound.
        list(&a, &version, "t1").await;
        let now = rename(&plain, &version, "t1", 3).await;
        let returned = Instant::now();
        loop {
            let began = Instant::now();
            if list(&b, &version, "t1").await.1 == now {
                break;
            }
            assert!(
                began - returned <= BOUND,
                "an old list {:?} after the removal returned",
                began - returned
            );
            tokio::time::sleep(Duration::from_millis(1)).await; // pacing between reads
        }
        // A removal of an item the list does not hold leaves it in the tiers. (First `a`
        // applies the notice too, and keeps the new list: a read during which a notice
        // was applied keeps nothing, so one more read.)
        while list(&a, &version, "t1").await.1 != now {
            tokio::time::sleep(Duration::from_millis(1)).await; // pacing between reads
        }
        list(&a, &version, "t1").await;
        let hits = a.stats().site("l1list", "list").local_hits;
        rename(&plain, &version, "t1", 9).await;
        list(&a, &version, "t1").await;
        assert_eq!(a.stats().site("l1list", "list").local_hits, hits + 1);
    }
}

/// A site returning `Arc<T>`: the tier's hits share one value instead of cloning it.
mod shared {
    use super::pair;
    use cache_core::{Cache, cached};
    use std::sync::Arc;

    #[cached(prefix = "l1arc", ttl = "1m", l1 = "30s", key = tenant, cache = cache)]
    async fn page(cache: &Cache, tenant: &str) -> Result<Arc<Vec<String>>, String> {
        Ok(Arc::new(vec![tenant.to_owned(); 100]))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hits_of_an_arc_site_share_one_value() {
        let (_scoped, a, _b) = pair("l1_arc").await;
        let first = page(&a, "t1").await.unwrap();
        let (second, third) = (page(&a, "t1").await.unwrap(), page(&a, "t1").await.unwrap());
        assert_eq!(a.stats().site("l1arc", "page").local_hits, 2);
        assert!(
            Arc::ptr_eq(&second, &third),
            "two hits of the tier, one allocation"
        );
        assert_eq!(*first, *second);
    }
}
