//! A seeded random schedule over three caches (three processes, as far as the cache can
//! tell) on one private Redis, each behind a fault proxy: reads, writes through
//! `#[invalidates]` (one scope of two prefixes, or a whole prefix; half of them writing
//! their result through to the fmpa read; writes of a value that the `idx` reads depend on
//! through their result, in one scope or in every scope), writes cancelled at a
//! random point after their body committed, slow readers racing a write, replies delayed
//! past the deadline (the command is applied, the caller gave up), blackholes and reset
//! connections that trip breakers, a full Redis refusing writes, and Redis restarts.
//!
//! After every step it checks what the library promises: a read never returns data older
//! than a write that its own process made (returned, or cancelled after committing), nor
//! older than a write of any process whose invalidation has landed (its process has
//! nothing pending).
//!
//! `SCHEDULE_STEPS` (default 10,000) and `SCHEDULE_SEED` (default: from the clock) set
//! the run; the seed is printed, and every failure names it.

use cache_core::{Cache, cached, invalidates};
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;
use testkit::{Fault, Proxy, RedisServer, test_builder, unique_namespace};
use tokio::sync::Notify;

const PREFIXES: [&str; 2] = ["fmpa", "stats"];
/// What reads read: the two prefixes that scope writes invalidate, and `idx`, whose entries
/// depend on a value of their result (`row`).
const READS: [&str; 3] = ["fmpa", "stats", "idx"];
/// The value every `idx` entry depends on through its result.
const ROW: &str = "r";
const TENANTS: [&str; 3] = ["t0", "t1", "t2"];
const DEADLINE: Duration = Duration::from_millis(25);

/// The source of truth: a version per (prefix, tenant), bumped by every write.
#[derive(Default)]
struct Store(Mutex<HashMap<(&'static str, &'static str), u64>>);

impl Store {
    fn get(&self, prefix: &'static str, tenant: &'static str) -> u64 {
        let versions = self.0.lock().unwrap();
        versions.get(&(prefix, tenant)).copied().unwrap_or(0)
    }

    fn bump(&self, prefix: &'static str, tenant: &'static str) -> u64 {
        let mut versions = self.0.lock().unwrap();
        let version = versions.entry((prefix, tenant)).or_default();
        *version += 1;
        *version
    }
}

/// A slow reader's hooks: told when its body has read the store, it waits to be
/// released before returning what it read.
struct Gate {
    read: Notify,
    release: Notify,
}

async fn load(
    store: &Store,
    prefix: &'static str,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> Result<u64, String> {
    let version = store.get(prefix, tenant);
    if let Some(gate) = gate {
        gate.read.notify_one();
        gate.release.notified().await;
    }
    Ok(version)
}

#[cached(prefix = "fmpa", ttl = "10m", key = tenant, tag(row = tenant), write_through = true, cache = cache)]
async fn read_fmpa(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> Result<u64, String> {
    load(store, "fmpa", tenant, gate).await
}

#[cached(prefix = "stats", ttl = "10m", key = tenant, cache = cache)]
async fn read_stats(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> Result<u64, String> {
    load(store, "stats", tenant, gate).await
}

#[cached(prefix = "idx", ttl = "10m", key = tenant, tag(row = |_: &u64| Some(ROW)), cache = cache)]
async fn read_idx(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> Result<u64, String> {
    load(store, "idx", tenant, gate).await
}

async fn read(
    cache: &Cache,
    store: &Store,
    prefix: &'static str,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> u64 {
    let read = match prefix {
        "fmpa" => read_fmpa(cache, store, tenant, gate).await,
        "idx" => read_idx(cache, store, tenant, gate).await,
        _ => read_stats(cache, store, tenant, gate).await,
    };
    read.expect("the source never fails")
}

/// A write to one tenant of both prefixes; the body commits at its first poll and tells
/// `wrote` the versions it wrote.
#[invalidates("fmpa", "stats", key = tenant, cache = cache)]
async fn write_tenant(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    wrote: &Mutex<[u64; 2]>,
) -> Result<(), String> {
    let versions = PREFIXES.map(|prefix| store.bump(prefix, tenant));
    *wrote.lock().unwrap() = versions;
    Ok(())
}

/// [`write_tenant`], storing the fmpa version it wrote under the fmpa read's key (it
/// invalidates the read's tag rather than its whole scope, which would leave nothing to
/// store under).
#[invalidates("fmpa", key = tenant, tag(row = tenant), write_through = read_fmpa(cache, store, tenant, None), cache = cache)]
#[invalidates("stats", key = tenant, cache = cache)]
async fn write_tenant_through(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    wrote: &Mutex<[u64; 2]>,
) -> Result<u64, String> {
    let versions = PREFIXES.map(|prefix| store.bump(prefix, tenant));
    *wrote.lock().unwrap() = versions;
    Ok(versions[0])
}

/// A write of the row of `tenant` that the `idx` reads depend on through their result.
#[invalidates("idx", key = tenant, tag(row = row), cache = cache)]
async fn write_idx(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    row: &str,
    wrote: &Mutex<[u64; 2]>,
) -> Result<(), String> {
    let _ = row;
    wrote.lock().unwrap()[0] = store.bump("idx", tenant);
    Ok(())
}

/// The row in every tenant: the `idx` entries holding it, in every scope.
#[invalidates("idx", tag(row = row), cache = cache)]
async fn write_idx_everywhere(cache: &Cache, store: &Store, row: &str) -> Result<(), String> {
    let _ = row;
    for tenant in TENANTS {
        store.bump("idx", tenant);
    }
    Ok(())
}

/// Writes `tenant` through process `p`, letting the caller give up after `polls` polls
/// (`None`: never); returns the versions the write made, for the oracle.
async fn write(
    caches: &[Cache],
    store: &Store,
    p: usize,
    tenant: &'static str,
    polls: Option<u64>,
    kind: WriteKind,
) -> Vec<((&'static str, &'static str), u64)> {
    let wrote = Mutex::new([0; 2]);
    let fut = async {
        match kind {
            WriteKind::Through => write_tenant_through(&caches[p], store, tenant, &wrote)
                .await
                .map(drop),
            WriteKind::Plain => write_tenant(&caches[p], store, tenant, &wrote).await,
            WriteKind::Row => write_idx(&caches[p], store, tenant, ROW, &wrote).await,
        }
    };
    match polls {
        None => fut.await.expect("writes succeed"),
        Some(polls) => {
            poll_then_drop(fut, polls).await;
        }
    }
    let versions = *wrote.lock().unwrap();
    match kind {
        WriteKind::Row => vec![(("idx", tenant), versions[0])],
        _ => vec![
            (("fmpa", tenant), versions[0]),
            (("stats", tenant), versions[1]),
        ],
    }
}

/// Which write: of both prefixes of a tenant (plain, or writing through to the fmpa
/// read), or of the row the `idx` reads depend on.
#[derive(Debug, Clone, Copy)]
enum WriteKind {
    Plain,
    Through,
    Row,
}

impl WriteKind {
    fn random(rng: &mut testkit::Rng) -> WriteKind {
        match rng.below(3) {
            0 => WriteKind::Plain,
            1 => WriteKind::Through,
            _ => WriteKind::Row,
        }
    }
}

/// A write to every tenant of fmpa, invalidating the whole prefix.
#[invalidates("fmpa", cache = cache)]
async fn write_all_fmpa(cache: &Cache, store: &Store) -> Result<(), String> {
    for tenant in TENANTS {
        store.bump("fmpa", tenant);
    }
    Ok(())
}

/// Polls `fut` up to `polls` times, letting other tasks run in between, then drops it:
/// a caller that gives up at a random point.
async fn poll_then_drop<F: Future>(fut: F, polls: u64) -> bool {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        let ready = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await;
        if ready {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}

/// One operation of a burst.
#[derive(Debug, Clone)]
enum Op {
    Read {
        p: usize,
        prefix: &'static str,
        tenant: &'static str,
        floor: u64,
    },
    Write {
        p: usize,
        tenant: &'static str,
        kind: WriteKind,
    },
    Cancelled {
        p: usize,
        tenant: &'static str,
        polls: u64,
        kind: WriteKind,
    },
}

/// What one operation of a burst did: a read's version, or a write's versions.
enum Done {
    Read(u64),
    Wrote(Vec<((&'static str, &'static str), u64)>),
}

async fn run_op(caches: &[Cache], store: &Store, op: Op) -> Done {
    match op {
        Op::Read {
            p, prefix, tenant, ..
        } => Done::Read(read(&caches[p], store, prefix, tenant, None).await),
        Op::Write { p, tenant, kind } => {
            Done::Wrote(write(caches, store, p, tenant, None, kind).await)
        }
        Op::Cancelled {
            p,
            tenant,
            polls,
            kind,
        } => Done::Wrote(write(caches, store, p, tenant, Some(polls), kind).await),
    }
}

type Versions = HashMap<(&'static str, &'static str), u64>;

/// What each process must see at least, and what each wrote.
struct Oracle {
    floor: Vec<Versions>,
    written: Vec<Versions>,
}

impl Oracle {
    fn new(processes: usize) -> Oracle {
        Oracle {
            floor: vec![Versions::new(); processes],
            written: vec![Versions::new(); processes],
        }
    }

    fn raise(versions: &mut Versions, key: (&'static str, &'static str), version: u64) {
        let entry = versions.entry(key).or_default();
        *entry = (*entry).max(version);
    }

    /// Process `p` wrote (returned, or committed then cancelled) these versions.
    fn wrote(&mut self, p: usize, versions: &[((&'static str, &'static str), u64)]) {
        for &(key, version) in versions {
            Self::raise(&mut self.floor[p], key, version);
            Self::raise(&mut self.written[p], key, version);
        }
    }

    /// Process `p` has nothing pending: everything it wrote has landed, for everyone.
    fn landed(&mut self, p: usize) {
        let written: Vec<_> = self.written[p].iter().map(|(k, v)| (*k, *v)).collect();
        for floor in &mut self.floor {
            for &(key, version) in &written {
                Self::raise(floor, key, version);
            }
        }
    }

    fn floor(&self, p: usize, key: (&'static str, &'static str)) -> u64 {
        self.floor[p].get(&key).copied().unwrap_or(0)
    }
}

/// Makes the server refuse every write (`maxmemory` of one byte under `noeviction`), or
/// accept them again.
async fn set_full(url: &str, full: bool) {
    config_set(url, "maxmemory-policy", "noeviction").await;
    config_set(url, "maxmemory", if full { "1" } else { "0" }).await;
}

async fn config_set(url: &str, name: &str, value: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
        let _: redis::RedisResult<()> = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query_async(&mut conn)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_schedule_never_reads_older_than_a_completed_write() {
    let (steps, seed, mut rng) = testkit::seeded_run("SCHEDULE", 10_000);

    let mut server = RedisServer::start();
    let url = server.url();
    let namespace = unique_namespace("schedule");
    let mut proxies = Vec::new();
    let mut caches = Vec::new();
    for _ in 0..3 {
        let proxy = Proxy::start(server.addr()).await;
        let cache = test_builder(&proxy.url(), &namespace)
            .op_timeout(DEADLINE)
            .connect_timeout(Duration::from_millis(200))
            .breaker(3, Duration::from_millis(50))
            .lazy()
            .build()
            .await
            .expect("cache");
        proxies.push(proxy);
        caches.push(cache);
    }
    let store = Store::default();
    let mut oracle = Oracle::new(caches.len());
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut full = false;

    for step in 0..steps {
        let p = rng.below(3) as usize;
        let prefix = READS[rng.below(3) as usize];
        let tenant = TENANTS[rng.below(3) as usize];
        let roll = rng.below(1000);
        let kind = WriteKind::random(&mut rng);
        let what = match roll {
            0..=619 => {
                let floor = oracle.floor(p, (prefix, tenant));
                let got = read(&caches[p], &store, prefix, tenant, None).await;
                assert!(
                    got >= floor && got <= store.get(prefix, tenant),
                    "seed {seed}, step {step}: cache {p} read {prefix}/{tenant} = {got}, \
                     older than {floor} (source {})",
                    store.get(prefix, tenant)
                );
                "read"
            }
            620..=769 => {
                let versions = write(&caches, &store, p, tenant, None, kind).await;
                oracle.wrote(p, &versions);
                "write"
            }
            770..=774 => {
                write_all_fmpa(&caches[p], &store)
                    .await
                    .expect("writes succeed");
                let versions = TENANTS.map(|tenant| (("fmpa", tenant), store.get("fmpa", tenant)));
                oracle.wrote(p, &versions);
                "write whole prefix"
            }
            775..=779 => {
                write_idx_everywhere(&caches[p], &store, ROW)
                    .await
                    .expect("writes succeed");
                let versions = TENANTS.map(|tenant| (("idx", tenant), store.get("idx", tenant)));
                oracle.wrote(p, &versions);
                "write a row everywhere"
            }
            840..=869 => {
                // A burst: three operations at once, on random processes.
                let ops: Vec<Op> = (0..3)
                    .map(|_| {
                        let p = rng.below(3) as usize;
                        let prefix = READS[rng.below(3) as usize];
                        let tenant = TENANTS[rng.below(3) as usize];
                        match rng.below(4) {
                            0 | 1 => Op::Read {
                                p,
                                prefix,
                                tenant,
                                floor: oracle.floor(p, (prefix, tenant)),
                            },
                            2 => Op::Write {
                                p,
                                tenant,
                                kind: WriteKind::random(&mut rng),
                            },
                            _ => Op::Cancelled {
                                p,
                                tenant,
                                polls: 1 + rng.below(4),
                                kind: WriteKind::random(&mut rng),
                            },
                        }
                    })
                    .collect();
                let run = |op: Op| run_op(&caches, &store, op);
                let (a, b, c) = tokio::join!(
                    run(ops[0].clone()),
                    run(ops[1].clone()),
                    run(ops[2].clone())
                );
                for (op, done) in ops.iter().zip([a, b, c]) {
                    match (op, done) {
                        (
                            Op::Read {
                                p,
                                prefix,
                                tenant,
                                floor,
                            },
                            Done::Read(got),
                        ) => assert!(
                            got >= *floor,
                            "seed {seed}, step {step}: cache {p} read {prefix}/{tenant} = {got} \
                             in a burst, older than {floor}"
                        ),
                        (Op::Write { p, .. } | Op::Cancelled { p, .. }, Done::Wrote(versions)) => {
                            oracle.wrote(*p, &versions)
                        }
                        _ => unreachable!("each operation reports its own kind"),
                    }
                }
                "burst"
            }
            780..=839 => {
                // Cancelled after its body committed (the first poll), at a random point.
                let polls = 1 + rng.below(4);
                let versions = write(&caches, &store, p, tenant, Some(polls), kind).await;
                oracle.wrote(p, &versions);
                "cancelled write"
            }
            870..=899 => {
                // A slow reader in one process straddles a write in another.
                let w = rng.below(3) as usize;
                let gate = Gate {
                    read: Notify::new(),
                    release: Notify::new(),
                };
                let floor = oracle.floor(p, (prefix, tenant));
                let reader = async {
                    let got = read(&caches[p], &store, prefix, tenant, Some(&gate)).await;
                    gate.read.notify_one(); // a hit never ran the body
                    got
                };
                let writer = async {
                    gate.read.notified().await;
                    let versions = write(&caches, &store, w, tenant, None, kind).await;
                    gate.release.notify_one();
                    versions
                };
                let (got, versions) = tokio::join!(reader, writer);
                assert!(
                    got >= floor,
                    "seed {seed}, step {step}: slow reader {p} got {got} < {floor}"
                );
                oracle.wrote(w, &versions);
                "slow reader"
            }
            900..=919 => {
                let fault = match rng.below(3) {
                    0 => Fault::Delay(DEADLINE * 2),
                    1 => Fault::Blackhole,
                    _ => Fault::Reset,
                };
                proxies[p].set(fault);
                "fault"
            }
            920..=979 => {
                proxies[p].set(Fault::Pass);
                "heal one"
            }
            980..=984 => {
                // maxmemory 1 byte with noeviction: every write is refused with OOM.
                set_full(&url, true).await;
                full = true;
                "full redis"
            }
            985..=989 => {
                server.restart();
                full = false;
                "restart"
            }
            _ => {
                // Everything healthy again, and every pending invalidation landed.
                for proxy in &proxies {
                    proxy.set(Fault::Pass);
                }
                set_full(&url, false).await;
                full = false;
                let started = std::time::Instant::now();
                while caches.iter().any(|c| c.pending_invalidations() > 0) {
                    assert!(
                        started.elapsed() < Duration::from_secs(20),
                        "seed {seed}, step {step}: pending invalidations never landed"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await; // pacing while polling
                }
                "settle"
            }
        };
        if full && rng.below(20) == 0 {
            set_full(&url, false).await;
            full = false;
        }
        *counts.entry(what).or_default() += 1;
        for (q, cache) in caches.iter().enumerate() {
            if cache.pending_invalidations() == 0 {
                oracle.landed(q);
            }
        }
    }
    eprintln!("schedule: seed {seed}: {counts:?}");
    for (p, cache) in caches.iter().enumerate() {
        eprintln!("schedule: cache {p}: {:?}", cache.stats().total);
    }
    assert!(
        caches.iter().map(|c| c.stats().total.hits).sum::<u64>() > steps / 20,
        "seed {seed}: the caches barely hit; the schedule tested little"
    );
}
