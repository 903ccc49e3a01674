//! The attributes end to end on a real Redis: an annotated repository over a fake pool.

use cache_core::{Cache, cached, invalidates};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Runs `async fn(Cache)` tests on Redis (the suite's backend: a server, or the cluster and
/// TLS reruns) and on the memory store.
macro_rules! on_redis_and_memory {
    ($prefix:literal: $($name:ident),*) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let scoped = testkit::redis_cache(concat!($prefix, "-", stringify!($name))).await;
                super::$name(scoped.cache.clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                let cache = cache_core::Cache::builder().memory().build().await.unwrap();
                super::$name(cache).await;
            }
        })*
    };
}

mod prefix {
    pub const FMPA: &str = "fmpa";
    pub const STATS: &str = "stats";
}

mod ttl {
    pub const LIST_SHORT: std::time::Duration = std::time::Duration::from_secs(5 * 60);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fmpa {
    pub id: u64,
    pub tenant: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    pub status: String,
    pub page: u32,
}

#[derive(Debug, PartialEq)]
pub struct DbError(String);

/// A pool-like handle on rows, counting its queries.
#[derive(Default)]
pub struct Pool {
    rows: Mutex<Vec<Fmpa>>,
    queries: AtomicUsize,
    fail_next: Mutex<bool>,
}

impl Pool {
    fn query(&self) -> Result<Vec<Fmpa>, DbError> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        if std::mem::take(&mut *self.fail_next.lock().unwrap()) {
            return Err(DbError("connection reset".into()));
        }
        Ok(self.rows.lock().unwrap().clone())
    }

    fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

pub struct NewFmpa {
    pub tenant: String,
    pub title: String,
}

/// The repository: reads cached, writes invalidating, on an explicit cache.
pub struct Repo {
    pool: Pool,
    cache: Cache,
}

impl Repo {
    #[cached(prefix = prefix::FMPA, ttl = "5m", key = tenant, filters, cache = self.cache)]
    pub async fn list(&self, tenant: &str, filters: &Filters) -> Result<Vec<Fmpa>, DbError> {
        let rows = self.pool.query()?;
        Ok(rows
            .into_iter()
            .filter(|row| row.tenant == tenant && !filters.status.is_empty())
            .collect())
    }

    #[cached(prefix = prefix::FMPA, name = "item", ttl = ttl::LIST_SHORT, key = tenant, id, cache = self.cache)]
    pub async fn get(&self, tenant: &str, id: u64) -> Option<Fmpa> {
        let rows = self.pool.query().ok()?;
        rows.into_iter()
            .find(|row| row.tenant == tenant && row.id == id)
    }

    #[cached(prefix = "stats", ttl = "15m", key = tenant, cache = self.cache)]
    pub async fn count(&self, tenant: &str) -> Result<usize, DbError> {
        Ok(self
            .pool
            .query()?
            .iter()
            .filter(|row| row.tenant == tenant)
            .count())
    }

    #[invalidates(prefix::FMPA, prefix::STATS, key = new.tenant, cache = self.cache)]
    pub async fn create(&mut self, new: NewFmpa) -> Result<Fmpa, DbError> {
        let mut rows = self.pool.rows.lock().unwrap();
        let row = Fmpa {
            id: rows.len() as u64 + 1,
            tenant: new.tenant,
            title: new.title,
        };
        rows.push(row.clone());
        Ok(row)
    }

    #[invalidates("fmpa", key = tenant, cache = self.cache)]
    pub async fn failing_write(&self, tenant: &str) -> Result<(), DbError> {
        let _ = tenant;
        Err(DbError("constraint violated".into()))
    }
}

async fn repo(test: &str) -> (testkit::ScopedCache, Repo) {
    let scoped = testkit::redis_cache(test).await;
    let repo = Repo {
        pool: Pool::default(),
        cache: scoped.cache.clone(),
    };
    (scoped, repo)
}

fn active(page: u32) -> Filters {
    Filters {
        status: "ACTIVE".into(),
        page,
    }
}

fn new(tenant: &str, title: &str) -> NewFmpa {
    NewFmpa {
        tenant: tenant.into(),
        title: title.into(),
    }
}

#[tokio::test]
async fn hit_after_miss_with_one_load() {
    let (_scoped, mut repo) = repo("hit-after-miss").await;
    repo.create(new("acme", "first")).await.unwrap();
    let first = repo.list("acme", &active(1)).await.unwrap();
    let second = repo.list("acme", &active(1)).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.len(), 1);
    assert_eq!(repo.pool.queries(), 1, "the second call is a hit");
    repo.list("acme", &active(2)).await.unwrap();
    assert_eq!(
        repo.pool.queries(),
        2,
        "other key arguments are other entries"
    );
}

#[tokio::test]
async fn invalidates_per_tenant_and_both_prefixes() {
    let (_scoped, mut repo) = repo("per-tenant").await;
    repo.create(new("acme", "a")).await.unwrap();
    repo.create(new("globex", "g")).await.unwrap();
    assert_eq!(repo.list("acme", &active(1)).await.unwrap().len(), 1);
    assert_eq!(repo.list("globex", &active(1)).await.unwrap().len(), 1);
    assert_eq!(repo.count("acme").await, Ok(1));
    assert_eq!(repo.get("acme", 1).await.map(|f| f.title), Some("a".into()));
    assert_eq!(repo.pool.queries(), 4);

    repo.create(new("acme", "a2")).await.unwrap();
    assert_eq!(
        repo.list("acme", &active(1)).await.unwrap().len(),
        2,
        "no stale list"
    );
    assert_eq!(
        repo.count("acme").await,
        Ok(2),
        "the second prefix was invalidated too"
    );
    assert_eq!(repo.pool.queries(), 6);
    assert_eq!(repo.get("acme", 1).await.map(|f| f.title), Some("a".into()));
    assert_eq!(
        repo.pool.queries(),
        7,
        "the item function shares the prefix: reloaded"
    );
    assert_eq!(repo.list("globex", &active(1)).await.unwrap().len(), 1);
    assert_eq!(repo.pool.queries(), 7, "the other tenant stayed cached");
}

#[tokio::test]
async fn errors_are_not_cached_and_failed_writes_invalidate_nothing() {
    let (_scoped, mut repo) = repo("errors").await;
    repo.create(new("acme", "a")).await.unwrap();
    *repo.pool.fail_next.lock().unwrap() = true;
    assert_eq!(
        repo.list("acme", &active(1)).await,
        Err(DbError("connection reset".into()))
    );
    assert_eq!(repo.list("acme", &active(1)).await.unwrap().len(), 1);
    assert_eq!(repo.pool.queries(), 2, "the error was not cached");

    assert!(repo.failing_write("acme").await.is_err());
    repo.list("acme", &active(1)).await.unwrap();
    assert_eq!(repo.pool.queries(), 2, "an Err invalidated nothing");
    assert_eq!(
        repo.cache.stats().prefix("fmpa").invalidations,
        1,
        "only create's"
    );
}

#[tokio::test]
async fn option_results_and_missing_rows() {
    let (_scoped, mut repo) = repo("option").await;
    assert_eq!(repo.get("acme", 1).await, None);
    assert_eq!(repo.get("acme", 1).await, None);
    assert_eq!(
        repo.pool.queries(),
        2,
        "None is not cached without cache_none"
    );
    repo.create(new("acme", "a")).await.unwrap();
    assert!(repo.get("acme", 1).await.is_some());
    assert!(repo.get("acme", 1).await.is_some());
    assert_eq!(repo.pool.queries(), 3);
}

// ----- free functions on the installed cache ------------------------------------------

static SOURCE: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);
static LOADS: AtomicUsize = AtomicUsize::new(0);

fn source_get(tenant: &str) -> u32 {
    LOADS.fetch_add(1, Ordering::SeqCst);
    SOURCE
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(tenant).copied())
        .unwrap_or(0)
}

#[cached(prefix = "counter", ttl = "1m", key = tenant)]
async fn counter(tenant: String) -> u32 {
    source_get(&tenant)
}

#[invalidates("counter", key = tenant)]
async fn bump(tenant: &str) {
    let mut source = SOURCE.lock().unwrap();
    *source
        .get_or_insert_with(HashMap::new)
        .entry(tenant.to_owned())
        .or_default() += 1;
}

#[cached(prefix = "counter", ttl = "1m")]
async fn all_counters() -> Vec<u32> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    let source = SOURCE.lock().unwrap();
    let mut values: Vec<u32> = source.iter().flat_map(|m| m.values().copied()).collect();
    values.sort();
    values
}

#[invalidates("counter")]
async fn reset_all() -> Result<(), String> {
    *SOURCE.lock().unwrap() = None;
    Ok(())
}

/// The only test of this binary that installs a cache (and the only one using these
/// free functions), so tests running in parallel do not race on the process default.
#[tokio::test]
async fn free_functions_on_the_installed_cache() {
    assert_eq!(
        counter("solo".into()).await,
        0,
        "with nothing installed the function runs"
    );
    let scoped = testkit::redis_cache("installed").await;
    cache_core::install(scoped.cache.clone());
    let loads = || LOADS.load(Ordering::SeqCst);
    let before = loads();

    bump("acme").await;
    assert_eq!(counter("acme".into()).await, 1);
    assert_eq!(counter("acme".into()).await, 1);
    assert_eq!(loads() - before, 1);
    bump("acme").await;
    assert_eq!(
        counter("acme".into()).await,
        2,
        "a plain return value always invalidates"
    );

    assert_eq!(all_counters().await, vec![2]);
    bump("globex").await;
    assert_eq!(
        all_counters().await,
        vec![2],
        "scoped invalidation leaves unscoped entries"
    );
    reset_all().await.unwrap();
    assert_eq!(
        all_counters().await,
        Vec::<u32>::new(),
        "prefix-wide invalidation"
    );
    assert_eq!(counter("acme".into()).await, 0);
    cache_core::uninstall();
}

#[tokio::test]
async fn explicit_cache_can_be_an_arc_or_a_reference() {
    let scoped = testkit::redis_cache("explicit").await;
    let shared = Arc::new(scoped.cache.clone());
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[cached(prefix = "arc", ttl = "1m", key = id, cache = shared)]
    async fn by_arc(shared: &Arc<Cache>, id: u32) -> u32 {
        let _ = shared;
        CALLS.fetch_add(1, Ordering::SeqCst);
        id * 2
    }

    assert_eq!(by_arc(&shared, 21).await, 42);
    assert_eq!(by_arc(&shared, 21).await, 42);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(scoped.cache.stats().prefix("arc").hits, 1);
}

/// The seed's item and list routes with tags: an item depends on its id, a list on its
/// status filter (`None`: every status). A write to one item invalidates that item and the
/// lists of its statuses, and leaves the other items and lists cached.
mod tags {
    use super::*;

    /// Rows: (tenant, id) → status; loads counted per route.
    #[derive(Default)]
    pub struct Rows {
        status: Mutex<HashMap<(String, u32), String>>,
        loads: AtomicUsize,
    }

    impl Rows {
        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }
    }

    #[cached(prefix = "tagged", ttl = "1m", key = tenant, id, tag(item = id), cache = cache)]
    async fn item(cache: &Cache, rows: &Rows, tenant: &str, id: u32) -> Option<String> {
        rows.loads.fetch_add(1, Ordering::SeqCst);
        let rows = rows.status.lock().unwrap();
        rows.get(&(tenant.to_owned(), id)).cloned()
    }

    #[cached(prefix = "tagged", ttl = "1m", key = tenant, status, tag(status = status), cache = cache)]
    async fn list(cache: &Cache, rows: &Rows, tenant: &str, status: Option<&str>) -> Vec<u32> {
        rows.loads.fetch_add(1, Ordering::SeqCst);
        let rows = rows.status.lock().unwrap();
        let mut ids: Vec<u32> = rows
            .iter()
            .filter(|((t, _), s)| t == tenant && status.is_none_or(|status| *s == status))
            .map(|((_, id), _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// Moves an item from one status to another: the item, and the lists of both
    /// statuses (two values of one tag).
    #[invalidates("tagged", key = tenant, tag(item = id, status = from, status = to), cache = cache)]
    async fn set_status(
        cache: &Cache,
        rows: &Rows,
        tenant: &str,
        id: u32,
        from: &str,
        to: &str,
    ) -> Result<(), String> {
        let _ = from;
        rows.status
            .lock()
            .unwrap()
            .insert((tenant.to_owned(), id), to.to_owned());
        Ok(())
    }

    /// Renames the status of an item in every tenant (a shared catalogue row).
    #[invalidates("tagged", tag(item = id), cache = cache)]
    async fn touch_everywhere(cache: &Cache, id: u32) {}

    #[tokio::test]
    async fn a_write_invalidates_its_item_and_its_statuses_only() {
        let scoped = testkit::redis_cache("tags").await;
        let cache = &scoped.cache;
        let rows = Rows::default();
        for (tenant, id, status) in [
            ("acme", 1, "open"),
            ("acme", 2, "open"),
            ("acme", 3, "closed"),
            ("globex", 1, "open"),
        ] {
            rows.status
                .lock()
                .unwrap()
                .insert((tenant.to_owned(), id), status.to_owned());
        }
        let read_all = || async {
            (
                item(cache, &rows, "acme", 1).await,
                item(cache, &rows, "acme", 2).await,
                item(cache, &rows, "globex", 1).await,
                list(cache, &rows, "acme", Some("open")).await,
                list(cache, &rows, "acme", Some("closed")).await,
                list(cache, &rows, "acme", None).await,
            )
        };
        let first = read_all().await;
        assert_eq!(rows.loads(), 6);
        assert_eq!(read_all().await, first);
        assert_eq!(rows.loads(), 6, "all hits");

        set_status(cache, &rows, "acme", 2, "open", "closed")
            .await
            .unwrap();
        let after = read_all().await;
        assert_eq!(after.1.as_deref(), Some("closed"));
        assert_eq!(after.3, vec![1], "open list without item 2");
        assert_eq!(after.4, vec![2, 3], "closed list with item 2");
        assert_eq!(after.5, vec![1, 2, 3]);
        assert_eq!(
            rows.loads(),
            6 + 4,
            "item 2 and the open, closed and unfiltered lists reloaded; items 1 stayed"
        );

        touch_everywhere(cache, 1).await;
        assert_eq!(read_all().await, after);
        assert_eq!(
            rows.loads(),
            10 + 2,
            "item 1 of acme and of globex, no list"
        );
        assert_eq!(cache.stats().prefix("tagged").errors, 0);
    }
}

/// Invalidation keys from the result, and invalidation only when something changed: the
/// second application of the issue (articles read per viewer, follows).
mod from_the_result {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Article {
        pub slug: String,
        pub title: String,
    }

    #[derive(Default)]
    pub struct Store {
        titles: Mutex<HashMap<u32, (String, String)>>,
        follows: Mutex<Vec<(String, String)>>,
        loads: AtomicUsize,
    }

    impl Store {
        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }
    }

    /// An article as one viewer sees it: the viewer is the scope, the slug a tag.
    #[cached(prefix = "article", ttl = "1m", key = viewer, slug, tag(article = slug), cache = cache)]
    async fn article(cache: &Cache, store: &Store, viewer: &str, slug: &str) -> Option<Article> {
        store.loads.fetch_add(1, Ordering::SeqCst);
        let titles = store.titles.lock().unwrap();
        titles
            .values()
            .find(|(s, _)| s == slug)
            .map(|(slug, title)| Article {
                slug: slug.clone(),
                title: format!("{title} (for {viewer})"),
            })
    }

    /// Edits article `id` by its id: which slug it has is known only from the result.
    /// Every viewer's copy goes (no `key`: every scope).
    #[invalidates("article", tag(article = |a: &Article| a.slug.clone()), cache = cache)]
    async fn retitle(
        cache: &Cache,
        store: &Store,
        id: u32,
        title: &str,
    ) -> Result<Article, String> {
        let mut titles = store.titles.lock().unwrap();
        let entry = titles.get_mut(&id).ok_or("no such article")?;
        entry.1 = title.to_owned();
        Ok(Article {
            slug: entry.0.clone(),
            title: entry.1.clone(),
        })
    }

    /// A follow: `Ok(false)` when it existed already, and then nothing is invalidated.
    #[invalidates("profile", key = follower, when = |created: &bool| *created, cache = cache)]
    async fn follow(
        cache: &Cache,
        store: &Store,
        follower: &str,
        author: &str,
    ) -> Result<bool, String> {
        let mut follows = store.follows.lock().unwrap();
        let pair = (follower.to_owned(), author.to_owned());
        if follows.contains(&pair) {
            return Ok(false);
        }
        follows.push(pair);
        Ok(true)
    }

    #[tokio::test]
    async fn keys_from_the_result_and_writes_that_change_nothing() {
        let scoped = testkit::redis_cache("from-result").await;
        let cache = &scoped.cache;
        let store = Store::default();
        store.titles.lock().unwrap().extend([
            (1, ("rust".to_owned(), "Rust".to_owned())),
            (2, ("redis".to_owned(), "Redis".to_owned())),
        ]);
        let read_all = || async {
            (
                article(cache, &store, "ann", "rust").await,
                article(cache, &store, "bob", "rust").await,
                article(cache, &store, "ann", "redis").await,
            )
        };
        read_all().await;
        read_all().await;
        assert_eq!(store.loads(), 3, "hits the second time");

        let edited = retitle(cache, &store, 1, "Rust 2024").await.unwrap();
        assert_eq!(edited.slug, "rust");
        let after = read_all().await;
        assert_eq!(after.0.unwrap().title, "Rust 2024 (for ann)");
        assert_eq!(after.1.unwrap().title, "Rust 2024 (for bob)");
        assert_eq!(
            store.loads(),
            3 + 2,
            "both viewers' copies of `rust`, not `redis`"
        );
        // A failed edit (no article 9) invalidates nothing.
        assert!(retitle(cache, &store, 9, "x").await.is_err());
        read_all().await;
        assert_eq!(store.loads(), 5);

        let invalidations = || cache.stats().prefix("profile").invalidations;
        assert!(follow(cache, &store, "ann", "bob").await.unwrap());
        assert_eq!(invalidations(), 1);
        assert!(!follow(cache, &store, "ann", "bob").await.unwrap());
        assert_eq!(invalidations(), 1, "an existing follow changes nothing");
    }
}

/// Write-through: a write stores its result under a cached read's key, and never a value
/// older than a write (or invalidation) that came in between.
mod write_through {
    use super::*;
    use tokio::sync::Notify;

    /// Items: id → title, and a lock-step hook for the race tests.
    #[derive(Default)]
    pub struct Items {
        titles: Mutex<HashMap<u32, String>>,
        loads: AtomicUsize,
        /// When set, a write waits here after its commit (before it returns).
        hold: Mutex<Option<(Arc<Notify>, Arc<Notify>)>>,
    }

    impl Items {
        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }
    }

    #[cached(prefix = "through", name = "item", ttl = "1m", key = tenant, id, tag(item = id), write_through = true, cache = cache)]
    async fn item(cache: &Cache, items: &Items, tenant: &str, id: u32) -> Option<String> {
        items.loads.fetch_add(1, Ordering::SeqCst);
        let _ = tenant;
        items.titles.lock().unwrap().get(&id).cloned()
    }

    #[cached(prefix = "through", name = "list", ttl = "1m", key = tenant, tag(list = tenant), cache = cache)]
    async fn list(cache: &Cache, items: &Items, tenant: &str) -> Vec<String> {
        items.loads.fetch_add(1, Ordering::SeqCst);
        let _ = tenant;
        let mut titles: Vec<String> = items.titles.lock().unwrap().values().cloned().collect();
        titles.sort();
        titles
    }

    /// Renames item `id`: its read written through, the tenant's lists invalidated.
    #[invalidates("through", key = tenant, tag(list = tenant), write_through = item(cache, items, tenant, id), cache = cache)]
    async fn rename(
        cache: &Cache,
        items: &Items,
        tenant: &str,
        id: u32,
        title: &str,
    ) -> Option<String> {
        items.titles.lock().unwrap().insert(id, title.to_owned());
        let hold = items.hold.lock().unwrap().take();
        if let Some((committed, release)) = hold {
            committed.notify_one();
            release.notified().await;
        }
        Some(title.to_owned())
    }

    /// Writes through, but also invalidates the read's whole scope: nothing to store.
    #[invalidates("through", key = tenant, write_through = item(cache, items, tenant, id), cache = cache)]
    async fn rename_all(
        cache: &Cache,
        items: &Items,
        tenant: &str,
        id: u32,
        title: &str,
    ) -> Option<String> {
        items.titles.lock().unwrap().insert(id, title.to_owned());
        Some(title.to_owned())
    }

    /// A plain invalidation of the item (another writer without write-through).
    #[invalidates("through", key = tenant, tag(item = id), cache = cache)]
    async fn touch(cache: &Cache, items: &Items, tenant: &str, id: u32, title: &str) {
        items.titles.lock().unwrap().insert(id, title.to_owned());
    }

    async fn the_next_read_is_a_hit(cache: Cache) {
        let items = Items::default();
        items.titles.lock().unwrap().insert(1, "one".into());
        items.titles.lock().unwrap().insert(2, "two".into());
        assert_eq!(
            item(&cache, &items, "acme", 1).await.as_deref(),
            Some("one")
        );
        assert_eq!(
            item(&cache, &items, "acme", 2).await.as_deref(),
            Some("two")
        );
        assert_eq!(list(&cache, &items, "acme").await, ["one", "two"]);
        assert_eq!(items.loads(), 3);

        assert_eq!(
            rename(&cache, &items, "acme", 1, "uno").await.as_deref(),
            Some("uno")
        );
        assert_eq!(cache.stats().prefix("through").written_through, 1);
        assert_eq!(
            item(&cache, &items, "acme", 1).await.as_deref(),
            Some("uno")
        );
        assert_eq!(items.loads(), 3, "the written value is a hit");
        assert_eq!(
            item(&cache, &items, "acme", 2).await.as_deref(),
            Some("two")
        );
        assert_eq!(items.loads(), 3, "the other item stayed cached");
        assert_eq!(list(&cache, &items, "acme").await, ["two", "uno"]);
        assert_eq!(items.loads(), 4, "the list was invalidated");

        // A write-through of an item never read before: stored all the same.
        rename(&cache, &items, "acme", 3, "tres").await;
        assert_eq!(
            item(&cache, &items, "acme", 3).await.as_deref(),
            Some("tres")
        );
        assert_eq!(items.loads(), 4);

        // A write that also invalidates the whole scope stores nothing (it would be dead).
        rename_all(&cache, &items, "acme", 2, "dos").await;
        assert_eq!(cache.stats().prefix("through").written_through, 2);
        assert_eq!(
            item(&cache, &items, "acme", 2).await.as_deref(),
            Some("dos")
        );
        assert_eq!(items.loads(), 5);
        assert_eq!(cache.stats().prefix("through").errors, 0);
    }

    /// Two writes of one item whose capture both come before either commits: the one that
    /// committed first finishes last, and must not leave its older value cached.
    async fn an_older_write_finishing_last_stores_nothing(cache: Cache) {
        let items = Arc::new(Items::default());
        items.titles.lock().unwrap().insert(1, "v0".into());
        assert_eq!(item(&cache, &items, "acme", 1).await.as_deref(), Some("v0"));

        let (committed, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        *items.hold.lock().unwrap() = Some((committed.clone(), release.clone()));
        let first = tokio::spawn({
            let (cache, items) = (cache.clone(), items.clone());
            async move { rename(&cache, &items, "acme", 1, "v1").await }
        });
        committed.notified().await; // v1 is committed, its write not finished
        rename(&cache, &items, "acme", 1, "v2").await; // v2 committed and written through
        assert_eq!(item(&cache, &items, "acme", 1).await.as_deref(), Some("v2"));
        release.notify_one();
        assert_eq!(first.await.unwrap().as_deref(), Some("v1"));
        assert_eq!(
            item(&cache, &items, "acme", 1).await.as_deref(),
            Some("v2"),
            "the older write did not overwrite the newer value"
        );
    }

    /// A plain invalidation between a write's capture and its end: nothing stored.
    async fn an_invalidation_in_between_wins(cache: Cache) {
        let items = Arc::new(Items::default());
        items.titles.lock().unwrap().insert(1, "v0".into());
        let (committed, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        *items.hold.lock().unwrap() = Some((committed.clone(), release.clone()));
        let first = tokio::spawn({
            let (cache, items) = (cache.clone(), items.clone());
            async move { rename(&cache, &items, "acme", 1, "v1").await }
        });
        committed.notified().await;
        touch(&cache, &items, "acme", 1, "v2").await;
        release.notify_one();
        first.await.unwrap();
        assert_eq!(cache.stats().prefix("through").written_through, 0);
        assert_eq!(item(&cache, &items, "acme", 1).await.as_deref(), Some("v2"));
    }

    on_redis_and_memory!(
        "through": the_next_read_is_a_hit,
        an_older_write_finishing_last_stores_nothing,
        an_invalidation_in_between_wins
    );
}

/// Dependencies from the result: a list depends on the items it holds, so that a change
/// to one item invalidates the lists holding it, not every list.
mod from_the_result_index {
    use super::*;
    use tokio::sync::Notify;

    /// Items of one tenant: id → (status, title); a hook to hold a list's load.
    #[derive(Default)]
    pub struct Items {
        rows: Mutex<HashMap<(String, u32), (String, String)>>,
        loads: AtomicUsize,
        hold: Mutex<Option<(Arc<Notify>, Arc<Notify>)>>,
    }

    impl Items {
        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }

        fn put(&self, tenant: &str, id: u32, status: &str, title: &str) {
            self.rows.lock().unwrap().insert(
                (tenant.to_owned(), id),
                (status.to_owned(), title.to_owned()),
            );
        }
    }

    /// The (id, title) pairs of a status (`None`: every status); depends on its filter and
    /// on the ids it holds.
    #[cached(prefix = "indexed", ttl = "1m", key = tenant, status, tag(status = status, item = |rows: &Vec<(u32, String)>| rows.iter().map(|(id, _)| *id)), cache = cache)]
    async fn list(
        cache: &Cache,
        items: &Items,
        tenant: &str,
        status: Option<&str>,
    ) -> Vec<(u32, String)> {
        items.loads.fetch_add(1, Ordering::SeqCst);
        let mut rows: Vec<(u32, String)> = items
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|((t, _), (s, _))| t == tenant && status.is_none_or(|status| s == status))
            .map(|((_, id), (_, title))| (*id, title.clone()))
            .collect();
        rows.sort();
        let hold = items.hold.lock().unwrap().take();
        if let Some((loaded, release)) = hold {
            loaded.notify_one();
            release.notified().await;
        }
        rows
    }

    /// Renames one item of a tenant (its membership unchanged): the lists holding it go.
    #[invalidates("indexed", key = tenant, tag(item = id), cache = cache)]
    async fn rename(cache: &Cache, items: &Items, tenant: &str, id: u32, title: &str) {
        let status = items.rows.lock().unwrap()[&(tenant.to_owned(), id)]
            .0
            .clone();
        items.put(tenant, id, &status, title);
    }

    /// Renames an item in every tenant: the lists holding it, in every scope.
    #[invalidates("indexed", tag(item = id), cache = cache)]
    async fn rename_everywhere(cache: &Cache, items: &Items, id: u32, title: &str) {
        let mut rows = items.rows.lock().unwrap();
        for ((_, row), (_, old)) in rows.iter_mut() {
            if *row == id {
                *old = title.to_owned();
            }
        }
    }

    fn seeded() -> Items {
        let items = Items::default();
        items.put("acme", 1, "open", "one");
        items.put("acme", 2, "open", "two");
        items.put("acme", 3, "closed", "three");
        items.put("globex", 1, "open", "uno");
        items
    }

    async fn a_change_to_an_item_invalidates_the_lists_holding_it(cache: Cache) {
        let items = seeded();
        let read_all = || async {
            (
                list(&cache, &items, "acme", Some("open")).await,
                list(&cache, &items, "acme", Some("closed")).await,
                list(&cache, &items, "acme", None).await,
                list(&cache, &items, "globex", Some("open")).await,
            )
        };
        let first = read_all().await;
        assert_eq!(read_all().await, first);
        assert_eq!(items.loads(), 4, "all hits the second time");

        rename(&cache, &items, "acme", 3, "drei").await;
        let after = read_all().await;
        assert_eq!(after.1, [(3, "drei".to_owned())]);
        assert_eq!(after.2[2], (3, "drei".to_owned()));
        assert_eq!(after.0, first.0, "the open list does not hold item 3");
        assert_eq!(
            items.loads(),
            4 + 2,
            "the closed and the unfiltered lists reloaded; the open ones stayed"
        );

        rename_everywhere(&cache, &items, 1, "eins").await;
        let after = read_all().await;
        assert_eq!(after.0[0], (1, "eins".to_owned()));
        assert_eq!(after.3, [(1, "eins".to_owned())]);
        assert_eq!(after.1, [(3, "drei".to_owned())]);
        assert_eq!(
            items.loads(),
            6 + 3,
            "across every scope: the lists holding item 1 in both tenants, not acme's closed one"
        );
        assert_eq!(cache.stats().prefix("indexed").errors, 0);
    }

    /// A list loading while an item it holds is renamed: its fill stores nothing.
    async fn a_load_across_an_item_invalidation_is_not_kept(cache: Cache) {
        let items = Arc::new(seeded());
        let (loaded, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        *items.hold.lock().unwrap() = Some((loaded.clone(), release.clone()));
        let reader = tokio::spawn({
            let (cache, items) = (cache.clone(), items.clone());
            async move { list(&cache, &items, "acme", Some("open")).await }
        });
        loaded.notified().await; // the load read "one" and "two"
        rename(&cache, &items, "acme", 1, "eins").await;
        release.notify_one();
        assert_eq!(
            reader.await.unwrap()[0],
            (1, "one".to_owned()),
            "what it loaded"
        );
        assert_eq!(
            list(&cache, &items, "acme", Some("open")).await[0],
            (1, "eins".to_owned()),
            "the stale load was not kept"
        );
    }

    /// A tenant's rows, written through by the writes that add one.
    #[cached(prefix = "indexed-through", ttl = "1m", key = tenant, tag(item = |rows: &Vec<(u32, String)>| rows.iter().map(|(id, _)| *id)), write_through = true, cache = cache)]
    async fn all(cache: &Cache, items: &Items, tenant: &str) -> Vec<(u32, String)> {
        items.loads.fetch_add(1, Ordering::SeqCst);
        rows_of(items, tenant)
    }

    fn rows_of(items: &Items, tenant: &str) -> Vec<(u32, String)> {
        let mut rows: Vec<(u32, String)> = items
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, id), (_, title))| (*id, title.clone()))
            .collect();
        rows.sort();
        rows
    }

    /// Adds a row; its result, the tenant's rows, is stored under `all`'s key.
    #[invalidates("indexed-through", key = tenant, tag(list = tenant), write_through = all(cache, items, tenant), cache = cache)]
    async fn add(
        cache: &Cache,
        items: &Items,
        tenant: &str,
        id: u32,
        title: &str,
    ) -> Vec<(u32, String)> {
        items.put(tenant, id, "open", title);
        let rows = rows_of(items, tenant);
        let hold = items.hold.lock().unwrap().take();
        if let Some((loaded, release)) = hold {
            loaded.notify_one();
            release.notified().await;
        }
        rows
    }

    /// Renames a row: the entries holding it go, a written-through one as a filled one.
    #[invalidates("indexed-through", key = tenant, tag(item = id), cache = cache)]
    async fn retitle(cache: &Cache, items: &Items, tenant: &str, id: u32, title: &str) {
        items.put(tenant, id, "open", title);
    }

    /// A value written through to a read indexed by its result is indexed under the values
    /// of its result, as a fill is: a later change to one of them invalidates it.
    async fn a_written_through_value_is_indexed_as_a_fill_is(cache: Cache) {
        let items = seeded();
        let first = all(&cache, &items, "acme").await;
        assert_eq!(all(&cache, &items, "acme").await, first);
        assert_eq!(items.loads(), 1);
        let added = add(&cache, &items, "acme", 4, "four").await;
        assert_eq!(all(&cache, &items, "acme").await, added, "written through");
        assert_eq!(items.loads(), 1, "a hit");
        retitle(&cache, &items, "acme", 4, "vier").await;
        assert_eq!(
            all(&cache, &items, "acme").await.last(),
            Some(&(4, "vier".to_owned())),
            "the written-through list holding row 4 went with its rename"
        );
        assert_eq!(items.loads(), 2);
    }

    /// A write whose result holds a row renamed after the write read it: the rename's
    /// invalidation moved the read's fence, so nothing is stored (the next read loads).
    async fn a_write_through_across_an_item_invalidation_stores_nothing(cache: Cache) {
        let items = Arc::new(seeded());
        all(&cache, &items, "acme").await;
        let (loaded, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        *items.hold.lock().unwrap() = Some((loaded.clone(), release.clone()));
        let writer = tokio::spawn({
            let (cache, items) = (cache.clone(), items.clone());
            async move { add(&cache, &items, "acme", 4, "four").await }
        });
        loaded.notified().await; // the write's result holds row 1 as "one"
        retitle(&cache, &items, "acme", 1, "eins").await;
        release.notify_one();
        assert_eq!(
            writer.await.unwrap()[0],
            (1, "one".to_owned()),
            "what it read"
        );
        assert_eq!(
            all(&cache, &items, "acme").await[0],
            (1, "eins".to_owned()),
            "the stale result was not stored"
        );
    }

    on_redis_and_memory!(
        "indexed": a_change_to_an_item_invalidates_the_lists_holding_it,
        a_load_across_an_item_invalidation_is_not_kept,
        a_written_through_value_is_indexed_as_a_fill_is,
        a_write_through_across_an_item_invalidation_stores_nothing
    );
}

/// Several targets with their own keys: in one attribute (`target(...)` groups), or with
/// stacked attributes; both invalidate the same entries.
mod several_targets {
    use super::*;

    /// Loads per (prefix, tenant).
    #[derive(Default)]
    pub struct Loads(Mutex<HashMap<(&'static str, String), u32>>);

    impl Loads {
        fn count(&self, prefix: &'static str, tenant: &str) -> u32 {
            let mut loads = self.0.lock().unwrap();
            let n = loads.entry((prefix, tenant.to_owned())).or_default();
            *n += 1;
            *n
        }

        fn of(&self, prefix: &'static str, tenant: &str) -> u32 {
            self.0.lock().unwrap()[&(prefix, tenant.to_owned())]
        }
    }

    #[cached(prefix = "multi-a", ttl = "1m", key = tenant, cache = cache)]
    async fn read_a(cache: &Cache, loads: &Loads, tenant: &str) -> u32 {
        loads.count("a", tenant)
    }

    #[cached(prefix = "multi-b", ttl = "1m", key = tenant, tag(kind = kind), cache = cache)]
    async fn read_b(cache: &Cache, loads: &Loads, tenant: &str, kind: &str) -> u32 {
        let _ = kind;
        loads.count("b", tenant)
    }

    /// One tenant of `multi-a`, and the kind `x` of `multi-b` in every tenant.
    #[invalidates(target("multi-a", key = tenant), target("multi-b", tag(kind = kind)), cache = cache)]
    async fn grouped(cache: &Cache, tenant: &str, kind: &str) {}

    /// The same, as two attributes.
    #[invalidates("multi-a", key = tenant, cache = cache)]
    #[invalidates("multi-b", tag(kind = kind), cache = cache)]
    async fn stacked(cache: &Cache, tenant: &str, kind: &str) {}

    async fn both_forms_invalidate_each_target_with_its_own_key(cache: Cache) {
        // Each form on tenants and a kind of its own.
        for (form, [t1, t2], kind) in [
            ("grouped", ["g1", "g2"], "x"),
            ("stacked", ["s1", "s2"], "y"),
        ] {
            let loads = Loads::default();
            let read_all = || async {
                for tenant in [t1, t2] {
                    read_a(&cache, &loads, tenant).await;
                    read_b(&cache, &loads, tenant, kind).await;
                }
            };
            read_all().await;
            read_all().await;
            match form {
                "grouped" => grouped(&cache, t1, kind).await,
                _ => stacked(&cache, t1, kind).await,
            }
            read_all().await;
            let loads = |prefix, tenant| loads.of(prefix, tenant);
            assert_eq!(loads("a", t1), 2, "{form}: a/{t1} invalidated");
            assert_eq!(loads("a", t2), 1, "{form}: a/{t2} kept");
            assert_eq!(
                loads("b", t1),
                2,
                "{form}: b kind {kind} of {t1} invalidated"
            );
            assert_eq!(
                loads("b", t2),
                2,
                "{form}: b kind {kind} of {t2} invalidated"
            );
        }
    }

    on_redis_and_memory!("targets": both_forms_invalidate_each_target_with_its_own_key);
}

/// `check_round_trip = true`: a value whose `Serialize` loses precision is reported (in
/// debug builds), an exact one is not; the call returns the function's value either way.
mod round_trip {
    use super::*;
    use cache_core::__private::{ResultMode, Site, check_round_trip};

    /// A timestamp serialized to whole seconds, as in the Conduit-style application.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    pub struct Stamp {
        pub seconds: f64,
    }

    impl Serialize for Stamp {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            let mut out = s.serialize_struct("Stamp", 1)?;
            out.serialize_field("seconds", &self.seconds.trunc())?;
            out.end()
        }
    }

    #[cached(prefix = "stamps", ttl = "1m", key = id, check_round_trip = true, cache = cache)]
    async fn stamp(cache: &Cache, id: u32) -> Result<Stamp, String> {
        Ok(Stamp {
            seconds: f64::from(id) + 0.5,
        })
    }

    #[test]
    fn a_lossy_value_is_reported_an_exact_one_is_not() {
        static SITE: Site = Site::new("stamps", "check", std::time::Duration::from_secs(60), 0);
        let mode = ResultMode::<Result<Stamp, String>>::new();
        let lossy: Result<Stamp, String> = Ok(Stamp { seconds: 1.5 });
        let exact: Result<Stamp, String> = Ok(Stamp { seconds: 2.0 });
        assert!(check_round_trip(&mode, &SITE, &None, &lossy));
        assert!(!check_round_trip(&mode, &SITE, &None, &exact));
        assert!(!check_round_trip(&mode, &SITE, &None, &Err("no".into())));
    }

    #[tokio::test]
    async fn the_attribute_returns_the_function_value() {
        let cache = Cache::builder().memory().build().await.unwrap();
        assert_eq!(stamp(&cache, 1).await.unwrap().seconds, 1.5, "the miss");
        assert_eq!(
            stamp(&cache, 1).await.unwrap().seconds,
            1.0,
            "the hit: what the round trip keeps (the check reports it)"
        );
    }
}

/// `l1`: values kept in the cache's in-process tier; another cache's `#[invalidates]`
/// reaches it within the tier's bound.
mod in_process_tier {
    use cache_core::{Cache, cached, invalidates};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[derive(Default)]
    struct Titles {
        titles: Mutex<Vec<String>>,
        loads: AtomicUsize,
    }

    #[cached(prefix = "titles", ttl = "1m", l1 = "30s", key = tenant, cache = cache)]
    async fn titles(cache: &Cache, rows: &Titles, tenant: &str) -> Result<Vec<String>, String> {
        rows.loads.fetch_add(1, Ordering::SeqCst);
        Ok(rows.titles.lock().unwrap().clone())
    }

    #[invalidates("titles", key = tenant, cache = cache)]
    async fn add(cache: &Cache, rows: &Titles, tenant: &str, title: &str) -> Result<(), String> {
        rows.titles.lock().unwrap().push(title.to_owned());
        Ok(())
    }

    async fn tiered(namespace: &str) -> Cache {
        let cache = testkit::Target::from_env()
            .builder(namespace)
            .l1(1 << 20)
            .l1_bound(Duration::from_millis(300))
            .build()
            .await
            .expect("a cache with a tier");
        let started = Instant::now();
        while !cache.l1_stats().is_some_and(|tier| tier.fresh) {
            assert!(started.elapsed() < Duration::from_secs(10), "never fresh");
            tokio::time::sleep(Duration::from_millis(5)).await; // pacing while polling
        }
        cache
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hits_in_process_and_invalidations_from_elsewhere() {
        let scoped = testkit::redis_cache("l1-attribute").await;
        let (reader, writer) = (
            tiered(scoped.namespace()).await,
            tiered(scoped.namespace()).await,
        );
        let rows = Titles::default();
        for _ in 0..3 {
            assert_eq!(titles(&reader, &rows, "acme").await, Ok(vec![]));
        }
        assert_eq!(rows.loads.load(Ordering::SeqCst), 1);
        assert_eq!(reader.stats().site("titles", "titles").local_hits, 2);
        add(&writer, &rows, "acme", "Feux").await.unwrap();
        let returned = Instant::now();
        while titles(&reader, &rows, "acme").await != Ok(vec!["Feux".to_owned()]) {
            assert!(
                returned.elapsed() <= Duration::from_millis(300),
                "stale past δ"
            );
            tokio::task::yield_now().await;
        }
    }
}

/// Resilience options of `#[cached]`: fail-safe, jitter, and decisions from the value.
mod resilience {
    use super::*;
    use std::time::Duration;

    #[derive(Default)]
    pub struct Db {
        loads: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
    }

    impl Db {
        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }
        fn query(&self) -> Result<(), String> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            match self.down.load(Ordering::SeqCst) {
                true => Err("the database is down".into()),
                false => Ok(()),
            }
        }
    }

    #[cached(prefix = "resilient", name = "list", ttl = "300ms", fail_safe = "1m", jitter = 0.1, key = tenant, cache = cache)]
    async fn list(cache: &Cache, db: &Db, tenant: &str) -> Result<Vec<u32>, String> {
        db.query()?;
        Ok(vec![tenant.len() as u32])
    }

    /// Empty pages are not kept.
    #[cached(prefix = "resilient", name = "page", ttl = "1m", key = tenant, page, unless = |rows: &Vec<u32>| rows.is_empty(), cache = cache)]
    async fn page(cache: &Cache, db: &Db, tenant: &str, page: u32) -> Result<Vec<u32>, String> {
        db.query()?;
        let _ = tenant;
        Ok(if page == 0 { vec![1, 2] } else { vec![] })
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Token {
        pub value: String,
        pub expires_in_ms: u64,
    }

    /// Kept as long as the token says it lives.
    #[cached(prefix = "resilient", name = "token", ttl = "1h", key = user, ttl_from = |token: &Token| Duration::from_millis(token.expires_in_ms), cache = cache)]
    async fn token(
        cache: &Cache,
        db: &Db,
        user: &str,
        expires_in_ms: u64,
    ) -> Result<Token, String> {
        db.query()?;
        Ok(Token {
            value: format!("t-{user}"),
            expires_in_ms,
        })
    }

    on_redis_and_memory!("resilience": fail_safe_answers_an_outage, unless_keeps_nothing, ttl_from_the_value);

    async fn fail_safe_answers_an_outage(cache: Cache) {
        let db = Db::default();
        assert_eq!(list(&cache, &db, "acme").await, Ok(vec![4]));
        tokio::time::sleep(Duration::from_millis(450)).await; // past the TTL (and its jitter)
        db.down.store(true, Ordering::SeqCst);
        assert_eq!(
            list(&cache, &db, "acme").await,
            Ok(vec![4]),
            "the old value"
        );
        assert_eq!(
            list(&cache, &db, "globex").await,
            Err("the database is down".into())
        );
        assert_eq!(cache.stats().site("resilient", "list").stale_served, 1);
    }

    async fn unless_keeps_nothing(cache: Cache) {
        let db = Db::default();
        for _ in 0..2 {
            assert_eq!(page(&cache, &db, "acme", 1).await, Ok(vec![]));
        }
        assert_eq!(db.loads(), 2, "an empty page is not kept");
        for _ in 0..2 {
            assert_eq!(page(&cache, &db, "acme", 0).await, Ok(vec![1, 2]));
        }
        assert_eq!(db.loads(), 3, "a full one is");
    }

    async fn ttl_from_the_value(cache: Cache) {
        let db = Db::default();
        token(&cache, &db, "ann", 200).await.unwrap();
        token(&cache, &db, "ann", 200).await.unwrap();
        assert_eq!(db.loads(), 1);
        tokio::time::sleep(Duration::from_millis(350)).await; // past the value's own TTL
        token(&cache, &db, "ann", 0).await.unwrap();
        assert_eq!(
            db.loads(),
            2,
            "expired after the token's 200 ms, not the site's hour"
        );
        token(&cache, &db, "ann", 0).await.unwrap();
        assert_eq!(db.loads(), 3, "a zero TTL keeps nothing");
    }
}
