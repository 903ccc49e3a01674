//! The staleness of the in-process tier, measured: one cache reads an `l1` site while
//! another writes a "database" and invalidates; after each invalidation returned, how long
//! the reader still returned an older version.

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::Cache;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use testkit::Rng;

/// A site kept in the in-process tier.
pub static L1_ITEM: Site =
    Site::new("l1", "item", Duration::from_secs(60), 0).with_l1(Duration::from_secs(30));

/// The tenants of a run.
pub const TENANTS: usize = 8;

/// The version of each tenant's row.
#[derive(Default)]
pub struct Db {
    versions: [AtomicU64; TENANTS],
}

impl Db {
    pub fn get(&self, tenant: usize) -> u64 {
        self.versions[tenant].load(Ordering::SeqCst)
    }

    /// Writes a new version; returns it.
    pub fn bump(&self, tenant: usize) -> u64 {
        self.versions[tenant].fetch_add(1, Ordering::SeqCst) + 1
    }
}

pub fn tenant_parts(tenant: usize) -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope(&format!("t{tenant}")).arg(&"row");
    parts
}

/// A cached read of `tenant`'s version through the `l1` site.
pub async fn read_version(cache: &Cache, db: &Db, tenant: usize) -> u64 {
    read_at(&L1_ITEM, tenant_parts(tenant), cache, db, tenant).await
}

/// A cached read of `tenant`'s version through the `l1` site `site`, with `parts`.
pub async fn read_at(
    site: &'static Site,
    parts: KeyParts,
    cache: &Cache,
    db: &Db,
    tenant: usize,
) -> u64 {
    let out = __private::cached(
        ResultMode::<Result<u64, String>>::new(),
        site,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new().local(),
        async { Ok(db.get(tenant)) },
    )
    .await;
    out.unwrap_or_else(|e| panic!("the read failed: {e}"))
}

/// Writes `tenant`'s row and invalidates it through `cache`; whether the invalidation
/// landed (else it is pending, retried).
pub async fn write(cache: &Cache, db: &Db, tenant: usize) -> (u64, bool) {
    let version = db.bump(tenant);
    let landed = cache
        .try_invalidate("l1", &format!("t{tenant}"))
        .await
        .is_ok();
    (version, landed)
}

/// Reads `tenant` through `reader` until it returns `version`, which an invalidation that
/// returned at `returned` made current; panics on an old read that began more than `bound`
/// after it.
pub async fn until_current(
    reader: &Cache,
    db: &Db,
    tenant: usize,
    version: u64,
    returned: Instant,
    bound: Duration,
) {
    loop {
        let began = Instant::now();
        if read_version(reader, db, tenant).await == version {
            return;
        }
        assert!(
            began - returned <= bound,
            "an old version read {:?} after the invalidation returned (bound {bound:?})",
            began - returned
        );
        // Pacing between reads (a blackholed read takes its deadline anyway).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits (polling, 10 s deadline) until the tier of `cache` is fresh.
pub async fn until_fresh(cache: &Cache) {
    let started = Instant::now();
    while !cache.l1_stats().is_some_and(|stats| stats.fresh) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the l1 backplane never became fresh"
        );
        tokio::time::sleep(Duration::from_millis(5)).await; // pacing while polling
    }
}

/// What a run saw.
pub struct Report {
    pub reads: usize,
    /// Invalidations that landed, and those left pending.
    pub landed: usize,
    pub pending: usize,
    /// Per landed invalidation after which an older version was still read: how long after
    /// it returned the last such read began, sorted.
    pub stale: Vec<Duration>,
    pub local_hits: u64,
}

impl Report {
    pub fn max(&self) -> Duration {
        self.stale.last().copied().unwrap_or_default()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.stale.is_empty() {
            return Duration::ZERO;
        }
        let at = ((self.stale.len() - 1) as f64 * p).round() as usize;
        self.stale[at]
    }

    pub fn print(&self, what: &str) {
        eprintln!(
            "{what}: {} reads ({} from the tier), {} invalidations landed, {} pending; old reads after {} of them: p50 {:?}, p99 {:?}, max {:?}",
            self.reads,
            self.local_hits,
            self.landed,
            self.pending,
            self.stale.len(),
            self.percentile(0.5),
            self.percentile(0.99),
            self.max(),
        );
    }
}

/// `reads` reads by 4 tasks through `reader`, while a task writes and invalidates through
/// `writer`, paced by `rng`; what was read after each invalidation.
pub async fn run(reader: &Cache, writer: &Cache, reads: usize, rng: &mut Rng) -> Report {
    let db = Arc::new(Db::default());
    let done = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(Vec::new()));
    let hits_before = reader.stats().prefix("l1").local_hits;
    let writing = {
        let (writer, db, done, writes) = (writer.clone(), db.clone(), done.clone(), writes.clone());
        let mut rng = Rng::new(rng.below(u64::MAX));
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let tenant = rng.below(TENANTS as u64) as usize;
                let (version, landed) = write(&writer, &db, tenant).await;
                let returned = Instant::now();
                writes
                    .lock()
                    .unwrap()
                    .push((tenant, version, returned, landed));
                // Pacing of the schedule.
                tokio::time::sleep(Duration::from_micros(rng.below(3000))).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (reader, db) = (reader.clone(), db.clone());
        let mut rng = Rng::new(rng.below(u64::MAX));
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::with_capacity(reads / 4);
            for _ in 0..reads / 4 {
                let tenant = rng.below(TENANTS as u64) as usize;
                let started = Instant::now();
                let version = read_version(&reader, &db, tenant).await;
                seen.push((tenant, started, version));
                if rng.below(4) == 0 {
                    // Pacing of the schedule.
                    tokio::time::sleep(Duration::from_micros(rng.below(1500))).await;
                } else {
                    tokio::task::yield_now().await;
                }
            }
            seen
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.expect("a reader panicked"));
    }
    done.store(true, Ordering::SeqCst);
    writing.await.expect("the writer panicked");
    let writes = writes.lock().unwrap().clone();
    let mut stale = Vec::new();
    for &(tenant, version, returned, _) in writes.iter().filter(|w| w.3) {
        let last_old = seen
            .iter()
            .filter(|&&(t, started, v)| t == tenant && started > returned && v < version)
            .map(|&(_, started, _)| started - returned)
            .max();
        stale.extend(last_old);
    }
    stale.sort();
    Report {
        reads: seen.len(),
        landed: writes.iter().filter(|w| w.3).count(),
        pending: writes.iter().filter(|w| !w.3).count(),
        stale,
        local_hits: reader.stats().prefix("l1").local_hits - hits_before,
    }
}
