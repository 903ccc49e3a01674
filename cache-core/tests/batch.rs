//! Batch sites (`#[cached(batch = ids)]`) on the Redis this run targets: each id its own
//! entry, shared with the single-id read of the same prefix and name; the function called
//! once with the ids that missed; single-flight per id across concurrent batches; the
//! in-process tier per id; invalidations of the scope reaching both; a seeded random
//! schedule of batches, single reads and writes that never reads a value older than an
//! invalidation that returned before it began.

use cache_core::{Cache, cached, invalidates};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use testkit::Rng;

/// A table of rows by id, each with a version, and the ids each load asked for.
#[derive(Default)]
struct Db {
    versions: Mutex<HashMap<u32, u64>>,
    loads: Mutex<Vec<Vec<u32>>>,
    single_loads: AtomicU64,
}

impl Db {
    fn version(&self, id: u32) -> u64 {
        *self.versions.lock().unwrap().get(&id).unwrap_or(&0)
    }
    fn bump(&self, id: u32) -> u64 {
        let mut versions = self.versions.lock().unwrap();
        let version = versions.entry(id).or_insert(0);
        *version += 1;
        *version
    }
    fn loads(&self) -> Vec<Vec<u32>> {
        self.loads.lock().unwrap().clone()
    }
}

/// The row of one id (ids from 1000 on do not exist).
#[cached(prefix = "user", ttl = "5m", key = tenant, id, cache = cache)]
async fn user(cache: &Cache, db: &Db, tenant: &str, id: u32) -> Result<(u32, u64), String> {
    db.single_loads.fetch_add(1, Ordering::SeqCst);
    Ok((id, db.version(id)))
}

/// The rows of many ids, sharing `user`'s entries.
#[cached(prefix = "user", name = "user", ttl = "5m", key = tenant, batch = ids, cache = cache)]
async fn users(
    cache: &Cache,
    db: &Db,
    tenant: &str,
    ids: &[u32],
) -> Result<HashMap<u32, (u32, u64)>, String> {
    db.loads.lock().unwrap().push(ids.to_vec());
    Ok(ids
        .iter()
        .filter(|&&id| id < 1000)
        .map(|&id| (id, (id, db.version(id))))
        .collect())
}

#[invalidates("user", key = tenant, cache = cache)]
async fn touch(cache: &Cache, db: &Db, tenant: &str, id: u32) -> Result<u64, String> {
    Ok(db.bump(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_loads_only_the_ids_that_missed() {
    let scoped = testkit::redis_cache("batch_missing").await;
    let db = Db::default();
    for id in 0..90 {
        user(&scoped, &db, "t1", id).await.unwrap();
    }
    let ids: Vec<u32> = (0..100).collect();
    let got = users(&scoped, &db, "t1", &ids).await.unwrap();
    assert_eq!(got.len(), 100);
    assert!(ids.iter().all(|id| got[id] == (*id, 0)));
    assert_eq!(db.loads(), vec![(90..100).collect::<Vec<u32>>()]);
    let stats = scoped.stats().site("user", "user");
    assert_eq!((stats.hits, stats.misses), (90, 100), "{stats:?}");
    // Now every id is cached: no load, and the single-id read finds the batch's entries.
    users(&scoped, &db, "t1", &ids).await.unwrap();
    assert_eq!(db.loads().len(), 1);
    assert_eq!(user(&scoped, &db, "t1", 95).await.unwrap(), (95, 0));
    assert_eq!(db.single_loads.load(Ordering::SeqCst), 90);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_of_the_scope_reaches_both_reads() {
    let scoped = testkit::redis_cache("batch_invalidated").await;
    let db = Db::default();
    let ids = [1, 2, 3];
    users(&scoped, &db, "t1", &ids).await.unwrap();
    users(&scoped, &db, "t2", &ids).await.unwrap();
    assert_eq!(touch(&scoped, &db, "t1", 2).await.unwrap(), 1);
    let got = users(&scoped, &db, "t1", &ids).await.unwrap();
    assert_eq!(got[&2], (2, 1));
    assert_eq!(user(&scoped, &db, "t1", 2).await.unwrap(), (2, 1));
    // The other tenant's entries were not touched.
    users(&scoped, &db, "t2", &ids).await.unwrap();
    assert_eq!(
        db.loads(),
        vec![vec![1, 2, 3], vec![1, 2, 3], vec![1, 2, 3]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_the_function_does_not_return_are_left_out_and_not_cached() {
    let scoped = testkit::redis_cache("batch_absent").await;
    let db = Db::default();
    let got = users(&scoped, &db, "t1", &[1, 1000, 2]).await.unwrap();
    assert_eq!(got.len(), 2);
    users(&scoped, &db, "t1", &[1, 1000, 2]).await.unwrap();
    assert_eq!(db.loads(), vec![vec![1, 1000, 2], vec![1000]]);
}

/// In order, as a `Vec` of pairs, from an owned `Vec` of ids; a plain output.
#[cached(prefix = "user", name = "user", ttl = "5m", key = tenant, batch = ids, cache = cache)]
async fn users_in_order(
    cache: &Cache,
    db: &Db,
    tenant: &str,
    ids: Vec<u32>,
) -> Vec<(u32, (u32, u64))> {
    db.loads.lock().unwrap().push(ids.clone());
    ids.into_iter()
        .map(|id| (id, (id, db.version(id))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vec_of_pairs_keeps_the_order_asked_and_each_id_once() {
    let scoped = testkit::redis_cache("batch_order").await;
    let db = Db::default();
    users(&scoped, &db, "t1", &[4, 2]).await.unwrap();
    let got = users_in_order(&scoped, &db, "t1", vec![5, 2, 9, 4, 2]).await;
    let order: Vec<u32> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(order, vec![5, 2, 9, 4]);
    assert_eq!(db.loads()[1], vec![5, 9]);
}

/// A batch whose load waits for a signal, to hold its flights open.
#[cached(prefix = "user", name = "user", ttl = "5m", key = tenant, batch = ids, cache = cache)]
async fn users_held(
    cache: &Cache,
    db: &Db,
    gate: &tokio::sync::Semaphore,
    tenant: &str,
    ids: &[u32],
) -> Result<BTreeMap<u32, (u32, u64)>, String> {
    db.loads.lock().unwrap().push(ids.to_vec());
    drop(gate.acquire().await.unwrap());
    Ok(ids.iter().map(|&id| (id, (id, db.version(id)))).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_load_each_id_once() {
    let scoped = testkit::redis_cache("batch_flights").await;
    let db = Db::default();
    let gate = tokio::sync::Semaphore::new(0);
    let first = users_held(&scoped, &db, &gate, "t1", &[0, 1, 2, 3, 4, 5]);
    let second = async {
        // Once the first batch is loading, the second asks for some of its ids and more.
        while db.loads().is_empty() {
            tokio::task::yield_now().await;
        }
        let second = users_held(&scoped, &db, &gate, "t1", &[3, 4, 5, 6, 7]);
        let single = user(&scoped, &db, "t1", 1);
        let release = async {
            // Both have joined the first's flights (their misses counted): release it.
            while scoped.stats().site("user", "user").misses < 6 + 5 + 1 {
                tokio::task::yield_now().await;
            }
            gate.add_permits(2);
        };
        let (second, single, ()) = tokio::join!(second, single, release);
        (second, single)
    };
    let (first, (second, single)) = tokio::join!(first, second);
    assert_eq!(first.unwrap().len(), 6);
    assert_eq!(second.unwrap().len(), 5);
    assert_eq!(single.unwrap(), (1, 0));
    assert_eq!(db.loads(), vec![vec![0, 1, 2, 3, 4, 5], vec![6, 7]]);
    assert_eq!(db.single_loads.load(Ordering::SeqCst), 0);
}

/// Batches with the in-process tier: the second read of each id is served in process.
#[cached(prefix = "user", name = "user", ttl = "5m", l1 = "1m", key = tenant, batch = ids, cache = cache)]
async fn users_local(
    cache: &Cache,
    db: &Db,
    tenant: &str,
    ids: &[u32],
) -> Result<HashMap<u32, (u32, u64)>, String> {
    db.loads.lock().unwrap().push(ids.to_vec());
    Ok(ids.iter().map(|&id| (id, (id, db.version(id)))).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_serves_each_id_it_holds() {
    let scoped = testkit::redis_cache_with("batch_tier", |builder| builder.l1(1 << 20)).await;
    let db = Db::default();
    while !scoped.l1_stats().is_some_and(|stats| stats.fresh) {
        tokio::time::sleep(Duration::from_millis(5)).await; // pacing while polling
    }
    users(&scoped, &db, "t1", &[1, 2]).await.unwrap();
    // Read from Redis (1, 2) or loaded (3), each kept in the tier.
    users_local(&scoped, &db, "t1", &[1, 2, 3]).await.unwrap();
    users_local(&scoped, &db, "t1", &[1, 2, 3]).await.unwrap();
    let stats = scoped.stats().site("user", "user");
    assert_eq!(stats.local_hits, 3, "{stats:?}");
    touch(&scoped, &db, "t1", 2).await.unwrap();
    let got = users_local(&scoped, &db, "t1", &[1, 2, 3]).await.unwrap();
    assert_eq!(
        got[&2],
        (2, 1),
        "the cache's own invalidation reached its tier"
    );
}

/// Random batches, single reads and writes on four tasks; a read never returns a version
/// older than the one a write had made current (and invalidated) before the read began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_schedule_never_reads_an_invalidated_version() {
    let (steps, seed, _) = testkit::seeded_run("BATCH_SCHEDULE", 150);
    let scoped = testkit::redis_cache("batch_schedule").await;
    let db = Db::default();
    let cache: &Cache = &scoped;
    let task = |n: u64| {
        let db = &db;
        async move {
            let mut rng = Rng::new(seed ^ n);
            for _ in 0..steps {
                match rng.below(10) {
                    0..=1 => {
                        let id = rng.below(8) as u32;
                        touch(cache, db, "t1", id).await.unwrap();
                    }
                    2..=3 => {
                        let id = rng.below(8) as u32;
                        let before = db.version(id);
                        let (_, version) = user(cache, db, "t1", id).await.unwrap();
                        assert!(
                            version >= before,
                            "seed {seed}: id {id} read {version} after {before} was current"
                        );
                    }
                    _ => {
                        let ids: Vec<u32> =
                            (0..rng.below(8) + 1).map(|_| rng.below(8) as u32).collect();
                        let before: Vec<u64> = ids.iter().map(|&id| db.version(id)).collect();
                        let got = users(cache, db, "t1", &ids).await.unwrap();
                        for (id, before) in ids.iter().zip(before) {
                            let (_, version) = got[id];
                            assert!(
                                version >= before,
                                "seed {seed}: id {id} read {version} in a batch after {before} was current"
                            );
                        }
                    }
                }
                if rng.below(4) == 0 {
                    tokio::time::sleep(Duration::from_micros(rng.below(300))).await;
                }
            }
        }
    };
    tokio::join!(task(1), task(2), task(3), task(4));
}
