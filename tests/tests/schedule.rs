//! A seeded random schedule over a **mixed fleet**: four caches (four processes, as far as
//! the cache can tell) on one private Redis, each behind a fault proxy, each configured
//! as the seed draws it: an in-process tier or none (and its bound δ), the encryption keys
//! of a rolling rotation (`[k1]`, `[k2, k1]`, `[k2]` keeping `k1` to name, or none), a
//! fail-safe default for every site or none (so processes read each other's entries kept
//! past their TTL, or not), hits sharing their reads (`coalesce_hits`) or not. One
//! of them is restarted mid-run with a new draw.
//!
//! The sites: `fmpa` (a tier, write-through, a tag), `stats` (fail-safe, early refresh, a
//! stampede lease, TTL jitter, some versions not kept (`unless`): a short TTL, kept past it, its source down now and then; every other
//! read with a soft timeout, in a task, its source a few ms slow), `idx` (a tier, a lease, a
//! tag read from its result, written through too), `secret` (sensitive, a tier) and `ttl` (a tier,
//! a short TTL, its source changed without invalidation), `rows` (a tier, read one id at
//! a time and in batches of three ids sharing the single reads' entries). The operations: reads, writes
//! through `#[invalidates]` (one scope of two prefixes or a whole prefix, half of them
//! writing their result through; writes of the row the `idx` reads depend on, in one scope
//! or in every scope; writes that store `idx` through), writes cancelled at a random point
//! after their body committed, slow readers racing a write, bursts, replies delayed past
//! the deadline (the command applied, the caller gone), blackholes and reset connections
//! that trip breakers, a full Redis refusing writes, Redis restarts, and whoever can write
//! to Redis without a key splicing an old sealed body under a current entry's header.
//!
//! After every step it checks what the library promises, whatever the others are:
//! - a read outside a tier is never older than a write its own process made (returned, or
//!   cancelled after committing), nor than a write of any process whose invalidation had
//!   landed (that process had nothing pending) before the read began;
//! - a read of an `l1` site in a process with a tier is never older than its own writes,
//!   nor than a write whose invalidation landed more than δ before the read began;
//! - a value of the `ttl` site is never served more than its TTL after the source moved on
//!   (outside windows where a fault may have held a fill back);
//! - a `stats` read while its source is down returns a value past its TTL only if no
//!   landed invalidation removed it (the same floor as every read), or the error.
//!
//! `SCHEDULE_STEPS` (default 3,000; 10,000 and more locally) and `SCHEDULE_SEED` (default:
//! from the clock) set the run; the seed is printed, and every failure names it.

use cache_core::{Cache, EncryptionKeys, cached, invalidates};
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};
use testkit::{Fault, Proxy, RedisServer, Rng, test_builder, unique_namespace};
use tokio::sync::Notify;

const PREFIXES: [&str; 2] = ["fmpa", "stats"];
/// What reads read with invalidations to check them against (`ttl` is read apart).
const READS: [&str; 5] = ["fmpa", "stats", "idx", "secret", "rows"];
/// The `l1` sites: served from the tier, within δ, in a process that has one.
const TIERED: [&str; 4] = ["fmpa", "secret", "idx", "rows"];
/// The value every `idx` entry depends on through its result.
const ROW: &str = "r";
const TENANTS: [&str; 3] = ["t0", "t1", "t2"];
const DEADLINE: Duration = Duration::from_millis(25);
const CACHES: usize = 4;
/// The `ttl` site's TTL, and how late its check lets a value be (the source moves on only
/// after the read that filled returned, so only clocks' grain).
const TTL: Duration = Duration::from_millis(200);
const TTL_SLACK: Duration = Duration::from_millis(25);

/// The source of truth: a version per (prefix, tenant), bumped by every write, and when
/// each version stopped being current; and whether `stats`'s source is down.
#[derive(Default)]
struct Store(Mutex<HashMap<Key, Versions>>, std::sync::atomic::AtomicBool);

/// The current version of a key, and when each earlier one ended.
type Versions = (u64, HashMap<u64, Instant>);

impl Store {
    fn set_down(&self, down: bool) {
        self.1.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_down(&self) -> bool {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn get(&self, prefix: &'static str, tenant: &'static str) -> u64 {
        let versions = self.0.lock().unwrap();
        versions.get(&(prefix, tenant)).map_or(0, |(v, _)| *v)
    }

    fn bump(&self, prefix: &'static str, tenant: &'static str) -> u64 {
        let mut versions = self.0.lock().unwrap();
        let (version, ended) = versions.entry((prefix, tenant)).or_default();
        ended.insert(*version, Instant::now());
        *version += 1;
        *version
    }

    /// When `version` stopped being current (`None`: it still is).
    fn ended(&self, prefix: &'static str, tenant: &'static str, version: u64) -> Option<Instant> {
        let versions = self.0.lock().unwrap();
        versions.get(&(prefix, tenant))?.1.get(&version).copied()
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
    if prefix == "stats" && store.is_down() {
        return Err("the source is down".into());
    }
    Ok(version)
}

#[cached(prefix = "fmpa", ttl = "10m", l1 = "10m", key = tenant, tag(row = tenant), write_through = true, cache = cache)]
async fn read_fmpa(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> Result<u64, String> {
    load(store, "fmpa", tenant, gate).await
}

#[cached(prefix = "stats", ttl = "20ms", fail_safe = "10m", refresh = 0.5, lease = "200ms", jitter = 0.2, unless = |v: &u64| v % 7 == 3, key = tenant, cache = cache)]
async fn read_stats(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> Result<u64, String> {
    load(store, "stats", tenant, gate).await
}

/// The entries of `read_stats`, read with a soft timeout (owned arguments: the read runs
/// in a task, and a slow reload goes on after its caller got the fail-safe value); its
/// source takes `delay`.
#[cached(prefix = "stats", name = "read_stats", ttl = "20ms", fail_safe = "10m", refresh = 0.5, lease = "200ms", timeout = "3ms", jitter = 0.2, unless = |v: &u64| v % 7 == 3, key = tenant, cache = cache)]
async fn read_stats_soon(
    cache: Cache,
    store: Arc<Store>,
    tenant: &'static str,
    delay: Duration,
) -> Result<u64, String> {
    // The source's own time (not synchronisation).
    tokio::time::sleep(delay).await;
    load(&store, "stats", tenant, None).await
}

#[cached(prefix = "idx", ttl = "10m", l1 = "10m", key = tenant, tag(row = |_: &u64| Some(ROW)), write_through = true, lease = "200ms", cache = cache)]
async fn read_idx(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> Result<u64, String> {
    load(store, "idx", tenant, gate).await
}

/// One row of a tenant (every row of it has the tenant's `rows` version).
#[cached(prefix = "rows", ttl = "10m", l1 = "10m", key = tenant, id, cache = cache)]
async fn read_row(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    id: u32,
    gate: Option<&Gate>,
) -> Result<u64, String> {
    let _ = id;
    load(store, "rows", tenant, gate).await
}

/// Many rows of a tenant at once: the entries of [`read_row`], one per id.
#[cached(prefix = "rows", name = "read_row", ttl = "10m", l1 = "10m", key = tenant, batch = ids, cache = cache)]
async fn read_rows(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    ids: &[u32],
) -> Result<HashMap<u32, u64>, String> {
    let version = store.get("rows", tenant);
    Ok(ids.iter().map(|&id| (id, version)).collect())
}

#[cached(prefix = "secret", ttl = "10m", l1 = "10m", key = tenant, sensitive = true, cache = cache)]
async fn read_secret(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> Result<u64, String> {
    load(store, "secret", tenant, gate).await
}

#[cached(prefix = "ttl", ttl = "200ms", l1 = "200ms", key = tenant, cache = cache)]
async fn read_ttl(cache: &Cache, store: &Store, tenant: &'static str) -> Result<u64, String> {
    load(store, "ttl", tenant, None).await
}

async fn read(
    cache: &Cache,
    store: &Arc<Store>,
    prefix: &'static str,
    tenant: &'static str,
    gate: Option<&Gate>,
) -> Option<u64> {
    // Every other ungated `stats` read has a soft timeout, its source 0-6 ms slow.
    static SOON: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let soon = SOON.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let read = match prefix {
        "stats" if gate.is_none() && soon % 2 == 1 => {
            let delay = Duration::from_millis(soon % 7);
            read_stats_soon(cache.clone(), store.clone(), tenant, delay).await
        }
        "fmpa" => read_fmpa(cache, store, tenant, gate).await,
        "idx" => read_idx(cache, store, tenant, gate).await,
        "secret" => read_secret(cache, store, tenant, gate).await,
        // Every other ungated `rows` read is a batch of three ids: the oldest of its
        // values is what is checked (each must meet the floor).
        "rows" if gate.is_none() && soon % 2 == 1 => read_rows(cache, store, tenant, &[0, 1, 2])
            .await
            .map(|rows| rows.values().copied().min().unwrap_or(0)),
        "rows" => read_row(cache, store, tenant, (soon % 3) as u32, gate).await,
        _ => read_stats(cache, store, tenant, gate).await,
    };
    match read {
        Ok(version) => Some(version),
        // Only `stats`'s source fails, while it is down, with no fail-safe value to give.
        Err(_) if prefix == "stats" => None,
        Err(error) => panic!("the source of {prefix} never fails: {error}"),
    }
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

/// A write of `tenant`'s rows: its single-row and batch reads alike.
#[invalidates("rows", key = tenant, cache = cache)]
async fn write_rows(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    wrote: &Mutex<[u64; 2]>,
) -> Result<(), String> {
    wrote.lock().unwrap()[0] = store.bump("rows", tenant);
    Ok(())
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

/// A write of `tenant`'s `idx` value that stores it under the read's key: indexed under
/// the row its result holds, as a fill is.
#[invalidates("idx", key = tenant, tag(other = tenant), write_through = read_idx(cache, store, tenant, None), cache = cache)]
async fn write_idx_through(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    wrote: &Mutex<[u64; 2]>,
) -> Result<u64, String> {
    let version = store.bump("idx", tenant);
    wrote.lock().unwrap()[0] = version;
    Ok(version)
}

/// A write of `tenant`'s sensitive value.
#[invalidates("secret", key = tenant, cache = cache)]
async fn write_secret(
    cache: &Cache,
    store: &Store,
    tenant: &'static str,
    wrote: &Mutex<[u64; 2]>,
) -> Result<(), String> {
    wrote.lock().unwrap()[0] = store.bump("secret", tenant);
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

/// A write to every tenant of fmpa, invalidating the whole prefix.
#[invalidates("fmpa", cache = cache)]
async fn write_all_fmpa(cache: &Cache, store: &Store) -> Result<(), String> {
    for tenant in TENANTS {
        store.bump("fmpa", tenant);
    }
    Ok(())
}

/// Which write: of both prefixes of a tenant (plain, or writing through to the fmpa
/// read), of the row the `idx` reads depend on, of `idx` written through, of the
/// sensitive value, of the `rows` read one by one and in batches.
#[derive(Debug, Clone, Copy)]
enum WriteKind {
    Plain,
    Through,
    Row,
    IdxThrough,
    Secret,
    Rows,
}

impl WriteKind {
    fn random(rng: &mut Rng) -> WriteKind {
        match rng.below(7) {
            0 => WriteKind::Plain,
            1 | 2 => WriteKind::Through,
            3 => WriteKind::Row,
            4 => WriteKind::IdxThrough,
            5 => WriteKind::Secret,
            _ => WriteKind::Rows,
        }
    }
}

type Wrote = Vec<((&'static str, &'static str), u64)>;

/// Writes `tenant` through process `p`, letting the caller give up after `polls` polls
/// (`None`: never); returns the versions the write made, for the oracle.
async fn write(
    caches: &[Cache],
    store: &Store,
    p: usize,
    tenant: &'static str,
    polls: Option<u64>,
    kind: WriteKind,
) -> Wrote {
    let wrote = Mutex::new([0; 2]);
    let cache = &caches[p];
    let fut = async {
        match kind {
            WriteKind::Through => write_tenant_through(cache, store, tenant, &wrote)
                .await
                .map(drop),
            WriteKind::Plain => write_tenant(cache, store, tenant, &wrote).await,
            WriteKind::Row => write_idx(cache, store, tenant, ROW, &wrote).await,
            WriteKind::IdxThrough => write_idx_through(cache, store, tenant, &wrote)
                .await
                .map(drop),
            WriteKind::Secret => write_secret(cache, store, tenant, &wrote).await,
            WriteKind::Rows => write_rows(cache, store, tenant, &wrote).await,
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
        WriteKind::Row | WriteKind::IdxThrough => vec![(("idx", tenant), versions[0])],
        WriteKind::Secret => vec![(("secret", tenant), versions[0])],
        WriteKind::Rows => vec![(("rows", tenant), versions[0])],
        WriteKind::Plain | WriteKind::Through => vec![
            (("fmpa", tenant), versions[0]),
            (("stats", tenant), versions[1]),
        ],
    }
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

/// How one cache of the fleet is configured, as the seed draws it.
#[derive(Debug, Clone)]
struct Config {
    /// The tier's bound δ, if it has a tier.
    tier: Option<Duration>,
    /// The encryption keys (ids; the naming key's id last when it is not one of them).
    keys: &'static str,
    /// A fail-safe default for every site (its entries kept past their TTL, with a grace
    /// the others read in their envelopes), or none.
    fail_safe: bool,
    /// Whether its hits in flight together share one read (`coalesce_hits`).
    coalesce: bool,
}

impl Config {
    /// Cache `i`'s draw: the first has a tier and the second none; the rest at random.
    fn draw(i: usize, rng: &mut Rng) -> Config {
        let tier = match (i, rng.below(3)) {
            (0, _) => Some(Duration::from_millis(300)),
            (1, _) | (_, 0) => None,
            (_, 1) => Some(Duration::from_millis(200)),
            _ => Some(Duration::from_millis(400)),
        };
        let keys = ["[k1]", "[k2, k1]", "[k2] naming k1", "none"][rng.below(4) as usize];
        let fail_safe = rng.below(2) == 0;
        // The first shares its hits' reads and the second does not; the rest at random.
        let coalesce = match i {
            0 => true,
            1 => false,
            _ => rng.below(2) == 0,
        };
        Config {
            tier,
            keys,
            fail_safe,
            coalesce,
        }
    }

    fn keys(&self) -> EncryptionKeys {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        match self.keys {
            "[k1]" => EncryptionKeys::new().with_key("k1", k1),
            "[k2, k1]" => EncryptionKeys::new().with_key("k2", k2).with_key("k1", k1),
            "[k2] naming k1" => EncryptionKeys::new()
                .with_key("k2", k2)
                .with_naming_key("k1", k1),
            _ => EncryptionKeys::new(),
        }
    }

    /// Whether reads of `prefix` may come from this cache's tier.
    fn tiered(&self, prefix: &str) -> Option<Duration> {
        self.tier.filter(|_| TIERED.contains(&prefix))
    }

    async fn build(&self, proxy: &Proxy, namespace: &str) -> Cache {
        let mut builder = test_builder(&proxy.url(), namespace)
            .op_timeout(DEADLINE)
            .connect_timeout(Duration::from_millis(200))
            .breaker(3, Duration::from_millis(50))
            .encryption_keys(self.keys())
            .coalesce_hits(self.coalesce)
            .lazy();
        if let Some(bound) = self.tier {
            builder = builder.l1(1 << 20).l1_bound(bound);
        }
        if self.fail_safe {
            builder = builder.fail_safe(Duration::from_secs(600));
        }
        // Every process declares the sensitive prefix, as README says (one that does not
        // is refused by the fleet: `cache-core/tests/fleet.rs`).
        builder = builder.sensitive_prefix("secret");
        let cache = builder.build().await.expect("cache");
        // A lazy cache checks its fleet as soon as Redis answers: the real signal that it
        // knows how its peers name keys.
        let started = Instant::now();
        while !cache.fleet().is_some_and(|fleet| fleet.checked) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the fleet was never checked"
            );
            tokio::time::sleep(Duration::from_millis(5)).await; // pacing while polling
        }
        cache
    }
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
    Read(Option<u64>),
    Wrote(Wrote),
}

async fn run_op(caches: &[Cache], store: &Arc<Store>, op: Op) -> Done {
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

type Key = (&'static str, &'static str);

/// What each process must see at least: its own writes at once; every process's writes
/// once they landed (at once outside a tier, after δ in one).
struct Oracle {
    own: Vec<HashMap<Key, u64>>,
    /// Per process, its writes not known to have landed.
    unlanded: Vec<Vec<(Key, u64)>>,
    /// Per key, the versions that landed and when (first seen landed).
    landed: HashMap<Key, Vec<(Instant, u64)>>,
}

impl Oracle {
    fn new(processes: usize) -> Oracle {
        Oracle {
            own: vec![HashMap::new(); processes],
            unlanded: vec![Vec::new(); processes],
            landed: HashMap::new(),
        }
    }

    /// Process `p` wrote (returned, or committed then cancelled) these versions.
    fn wrote(&mut self, p: usize, versions: &[(Key, u64)]) {
        for &(key, version) in versions {
            let own = self.own[p].entry(key).or_default();
            *own = (*own).max(version);
            self.unlanded[p].push((key, version));
        }
    }

    /// Process `p` has nothing pending: everything it wrote has landed, for everyone.
    fn landed(&mut self, p: usize, at: Instant) {
        for (key, version) in self.unlanded[p].drain(..) {
            self.landed.entry(key).or_default().push((at, version));
        }
    }

    /// What a read by `p` of `key` that begins now must return at least; `tier`: the δ of
    /// a read that the tier may answer.
    fn floor(&self, p: usize, key: Key, tier: Option<Duration>) -> u64 {
        let cutoff = Instant::now().checked_sub(tier.unwrap_or_default());
        let landed = self.landed.get(&key).map_or(0, |landed| {
            landed
                .iter()
                .filter(|(at, _)| cutoff.is_some_and(|cutoff| *at <= cutoff))
                .map(|(_, version)| *version)
                .max()
                .unwrap_or(0)
        });
        landed.max(self.own[p].get(&key).copied().unwrap_or(0))
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

/// Whoever can write to Redis but holds no key: the sealed entries of `secret` are kept as
/// they go by, and one of them gets an older body under its current header (its current
/// generations). The associated data binds the generations: it must not open.
async fn splice(raw: &Cache, seen: &mut HashMap<String, Vec<Vec<u8>>>, rng: &mut Rng) {
    use cache_core::__private::raw as bytes;
    let header = |entry: &[u8]| {
        cache_core::entry::decode(entry)
            .ok()
            .map(|decoded| entry.len() - decoded.payload.len())
    };
    for key in bytes::keys(raw, "*:read_secret:*").await {
        let Some(now) = bytes::get(raw, &key).await else {
            continue;
        };
        let history = seen.entry(key.clone()).or_default();
        if !history.contains(&now) {
            history.push(now.clone());
            if history.len() > 8 {
                history.remove(0);
            }
        }
        let older: Vec<&Vec<u8>> = history.iter().filter(|old| **old != now).collect();
        if older.is_empty() || rng.below(2) == 0 {
            continue;
        }
        let old = older[rng.below(older.len() as u64) as usize];
        if let (Some(at), Some(old_at)) = (header(&now), header(old)) {
            let mut spliced = now[..at].to_vec();
            spliced.extend_from_slice(&old[old_at..]);
            bytes::set(raw, &key, spliced).await;
        }
    }
}

/// Everything healthy again, and every pending invalidation landed.
async fn settle(proxies: &[Proxy], caches: &[Cache], url: &str, seed: u64, step: u64) {
    for proxy in proxies {
        proxy.set(Fault::Pass);
    }
    set_full(url, false).await;
    let started = Instant::now();
    while caches.iter().any(|c| c.pending_invalidations() > 0) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "seed {seed}, step {step}: pending invalidations never landed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await; // pacing while polling
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_schedule_over_a_mixed_fleet_never_reads_older_than_promised() {
    let (steps, seed, mut rng) = testkit::seeded_run("SCHEDULE", 3_000);

    let mut server = RedisServer::start();
    let url = server.url();
    let namespace = unique_namespace("schedule");
    let mut proxies = Vec::new();
    let mut configs = Vec::new();
    let mut caches = Vec::new();
    for i in 0..CACHES {
        let proxy = Proxy::start(server.addr()).await;
        let config = Config::draw(i, &mut rng);
        caches.push(config.build(&proxy, &namespace).await);
        configs.push(config);
        proxies.push(proxy);
    }
    eprintln!("schedule: seed {seed}: fleet {configs:?}");
    // Raw access to the server, for the splices; it declares the sensitive prefix too.
    let raw = test_builder(&url, &namespace)
        .sensitive_prefix("secret")
        .build()
        .await
        .expect("raw cache");
    let mut sealed: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    let store = Arc::new(Store::default());
    let mut oracle = Oracle::new(caches.len());
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut full = false;
    // Since when no fault could hold a fill back (`None`: one may be now): a blackhole
    // keeps the bytes of a `SET` and lets them through when it heals.
    let mut quiet_since = Some(Instant::now());
    let restart_at = steps / 2;
    let fail = |step: u64, what: String| -> String { format!("seed {seed}, step {step}: {what}") };

    for step in 0..steps {
        let p = rng.below(CACHES as u64) as usize;
        let prefix = READS[rng.below(READS.len() as u64) as usize];
        let tenant = TENANTS[rng.below(3) as usize];
        let roll = rng.below(1000);
        let kind = WriteKind::random(&mut rng);
        if step == restart_at {
            // A rolling restart: the process drains, goes, and comes back drawn anew.
            settle(&proxies, &caches, &url, seed, step).await;
            quiet_since = Some(Instant::now());
            let q = rng.below(CACHES as u64) as usize;
            let config = Config::draw(q.max(2), &mut rng);
            eprintln!("schedule: seed {seed}, step {step}: cache {q} restarts as {config:?}");
            caches[q] = config.build(&proxies[q], &namespace).await;
            configs[q] = config;
        }
        let what = match roll {
            0..=539 => {
                let tier = configs[p].tiered(prefix);
                let floor = oracle.floor(p, (prefix, tenant), tier);
                match read(&caches[p], &store, prefix, tenant, None).await {
                    Some(got) => assert!(
                        got >= floor && got <= store.get(prefix, tenant),
                        "{}",
                        fail(
                            step,
                            format!(
                                "cache {p} ({:?}) read {prefix}/{tenant} = {got}, older than {floor} (source {})",
                                configs[p],
                                store.get(prefix, tenant)
                            )
                        )
                    ),
                    None => *counts.entry("source down").or_default() += 1,
                }
                "read"
            }
            540..=584 => {
                // The TTL-only site, read by two processes: its source moves on without an
                // invalidation.
                for p in [p, rng.below(CACHES as u64) as usize] {
                    let began = Instant::now();
                    let got = read_ttl(&caches[p], &store, tenant)
                        .await
                        .expect("the source never fails");
                    let held_back = quiet_since.is_none_or(|quiet| began < quiet + TTL + TTL_SLACK);
                    if let Some(ended) = store.ended("ttl", tenant, got)
                        && !held_back
                    {
                        assert!(
                            began <= ended + TTL + TTL_SLACK,
                            "{}",
                            fail(
                                step,
                                format!(
                                    "cache {p} ({:?}) read ttl/{tenant} = {got} {:?} after the source moved on (TTL {TTL:?})",
                                    configs[p],
                                    began - ended
                                )
                            )
                        );
                    }
                }
                if rng.below(3) == 0 {
                    store.bump("ttl", tenant);
                }
                "ttl read"
            }
            585..=589 => {
                // The `stats` source goes down, or comes back.
                store.set_down(!store.is_down());
                "outage"
            }
            590..=739 => {
                let versions = write(&caches, &store, p, tenant, None, kind).await;
                oracle.wrote(p, &versions);
                "write"
            }
            740..=744 => {
                write_all_fmpa(&caches[p], &store)
                    .await
                    .expect("writes succeed");
                let versions = TENANTS.map(|tenant| (("fmpa", tenant), store.get("fmpa", tenant)));
                oracle.wrote(p, &versions);
                "write whole prefix"
            }
            745..=749 => {
                write_idx_everywhere(&caches[p], &store, ROW)
                    .await
                    .expect("writes succeed");
                let versions = TENANTS.map(|tenant| (("idx", tenant), store.get("idx", tenant)));
                oracle.wrote(p, &versions);
                "write a row everywhere"
            }
            750..=809 => {
                // Cancelled after its body committed (the first poll), at a random point.
                let polls = 1 + rng.below(4);
                let versions = write(&caches, &store, p, tenant, Some(polls), kind).await;
                oracle.wrote(p, &versions);
                "cancelled write"
            }
            810..=839 => {
                // A burst: three operations at once, on random processes.
                let ops: Vec<Op> = (0..3)
                    .map(|_| {
                        let p = rng.below(CACHES as u64) as usize;
                        let prefix = READS[rng.below(READS.len() as u64) as usize];
                        let tenant = TENANTS[rng.below(3) as usize];
                        match rng.below(4) {
                            0 | 1 => Op::Read {
                                p,
                                prefix,
                                tenant,
                                floor: oracle.floor(p, (prefix, tenant), configs[p].tiered(prefix)),
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
                            got.is_none_or(|got| got >= *floor),
                            "{}",
                            fail(
                                step,
                                format!(
                                    "cache {p} read {prefix}/{tenant} = {got:?} in a burst, older than {floor}"
                                )
                            )
                        ),
                        (Op::Write { p, .. } | Op::Cancelled { p, .. }, Done::Wrote(versions)) => {
                            oracle.wrote(*p, &versions)
                        }
                        _ => unreachable!("each operation reports its own kind"),
                    }
                }
                "burst"
            }
            840..=869 => {
                // A slow reader in one process straddles a write in another.
                let w = rng.below(CACHES as u64) as usize;
                let gate = Gate {
                    read: Notify::new(),
                    release: Notify::new(),
                };
                let floor = oracle.floor(p, (prefix, tenant), configs[p].tiered(prefix));
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
                    got.is_none_or(|got| got >= floor),
                    "{}",
                    fail(step, format!("slow reader {p} got {got:?} < {floor}"))
                );
                oracle.wrote(w, &versions);
                "slow reader"
            }
            870..=889 => {
                let fault = match rng.below(3) {
                    0 => Fault::Delay(DEADLINE * 2),
                    1 => Fault::Blackhole,
                    _ => Fault::Reset,
                };
                proxies[p].set(fault);
                if fault == Fault::Blackhole {
                    quiet_since = None;
                }
                "fault"
            }
            890..=899 => {
                splice(&raw, &mut sealed, &mut rng).await;
                "splice"
            }
            900..=969 => {
                proxies[p].set(Fault::Pass);
                "heal one"
            }
            970..=974 => {
                // maxmemory 1 byte with noeviction: every write is refused with OOM.
                set_full(&url, true).await;
                full = true;
                "full redis"
            }
            975..=979 => {
                server.restart();
                full = false;
                "restart"
            }
            _ => {
                settle(&proxies, &caches, &url, seed, step).await;
                full = false;
                "settle"
            }
        };
        if full && rng.below(20) == 0 {
            set_full(&url, false).await;
            full = false;
        }
        if quiet_since.is_none()
            && proxies
                .iter()
                .all(|proxy| proxy.fault() != Fault::Blackhole)
        {
            quiet_since = Some(Instant::now());
        }
        *counts.entry(what).or_default() += 1;
        let now = Instant::now();
        for (q, cache) in caches.iter().enumerate() {
            if cache.pending_invalidations() == 0 {
                oracle.landed(q, now);
            }
        }
    }
    eprintln!("schedule: seed {seed}: {counts:?}");
    for (p, cache) in caches.iter().enumerate() {
        let stats = cache.stats();
        eprintln!(
            "schedule: cache {p} {:?}: {:?}; fleet {:?}",
            configs[p], stats.total, stats.fleet
        );
    }
    let hits: u64 = caches.iter().map(|c| c.stats().total.hits).sum();
    let local: u64 = caches.iter().map(|c| c.stats().total.local_hits).sum();
    assert!(
        hits > steps / 20,
        "seed {seed}: the caches barely hit; the schedule tested little"
    );
    assert!(
        local > 0,
        "seed {seed}: no tier ever served: the bound went untested"
    );
}
