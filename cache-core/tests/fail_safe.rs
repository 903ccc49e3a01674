//! Fail-safe, on a real Redis and on the memory store: an entry past its TTL answers a
//! reload that failed (an `Err`, a panic), only while the generations it was filled under
//! are current; a failed reload is then held back for the throttle; a value an
//! invalidation removed is never served, even when the invalidation lands during the
//! failing reload.

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::{Cache, CacheBuilder};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A short TTL, a long grace.
static KEPT: Site = Site::new("failsafe", "item", Duration::from_millis(300), 0)
    .with_fail_safe(Duration::from_secs(60));
/// The same entries, with a soft timeout: a reload slower than that answers with the old
/// value, and goes on.
static SOFT: Site = Site::new("failsafe", "item", Duration::from_millis(300), 0)
    .with_fail_safe(Duration::from_secs(60))
    .with_timeout(Duration::from_millis(200));
/// The same entries, read by a site without fail-safe (another process, say).
static PLAIN: Site = Site::new("failsafe", "item", Duration::from_millis(300), 0);

/// The throttle of these tests: long enough to see, short enough to wait out.
const THROTTLE: Duration = Duration::from_secs(1);

fn configure(builder: CacheBuilder) -> CacheBuilder {
    builder.fail_safe_throttle(THROTTLE)
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let scoped = testkit::redis_cache_with(stringify!($name), super::configure).await;
                super::$name(scoped.cache.clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                let cache = super::configure(cache_core::Cache::builder().memory()).build().await.unwrap();
                super::$name(cache).await;
            }
        })*
    };
}

on_both!(
    an_expired_value_answers_a_failed_reload_then_the_throttle_holds,
    a_panicking_reload_is_answered_too,
    an_invalidated_value_is_never_served,
    an_invalidation_during_the_failing_reload_wins,
    a_site_without_fail_safe_reads_the_ttl_not_the_grace,
    within_its_ttl_an_entry_is_a_plain_hit,
    a_slow_reload_answers_with_the_old_value_and_goes_on,
    an_invalidation_during_a_slow_reload_is_not_answered_with_the_old_value,
);

fn parts(tenant: &str) -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope(tenant);
    parts
}

/// A read through `site` whose body returns `answer` (and counts in `loads`).
async fn read(
    cache: &Cache,
    site: &'static Site,
    tenant: &str,
    loads: &AtomicUsize,
    answer: Result<&str, &str>,
) -> Result<String, String> {
    __private::cached(
        ResultMode::<Result<String, String>>::new(),
        site,
        Some(cache.clone()),
        parts(tenant),
        __private::ReadOptions::new(),
        async {
            loads.fetch_add(1, Ordering::SeqCst);
            answer.map(str::to_owned).map_err(str::to_owned)
        },
    )
    .await
}

/// A read through `SOFT` (in a task of its own) whose body says it began, then waits for
/// `release` to answer `Ok(answer)`.
async fn slow_read(
    cache: &Cache,
    begun: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
    answer: &'static str,
) -> Result<String, String> {
    __private::cached_in_task(
        ResultMode::<Result<String, String>>::new(),
        &SOFT,
        Some(cache.clone()),
        parts("acme"),
        __private::ReadOptions::new(),
        async move {
            let _ = begun.send(());
            let _ = release.await;
            Ok(answer.to_owned())
        },
    )
    .await
}

/// Until the cache has no load under way (a reload's store is done when its flight ends).
async fn settled(cache: &Cache) {
    for _ in 0..500 {
        if cache.loads_in_flight() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("a load is still under way after 5 s");
}

/// Waits out the site's TTL (a real wait: the entry must expire).
async fn past_the_ttl() {
    tokio::time::sleep(Duration::from_millis(450)).await;
}

fn stale_served(cache: &Cache) -> u64 {
    cache.stats().site("failsafe", "item").stale_served
}

async fn an_expired_value_answers_a_failed_reload_then_the_throttle_holds(cache: Cache) {
    let loads = AtomicUsize::new(0);
    assert_eq!(
        read(&cache, &KEPT, "acme", &loads, Ok("v1")).await,
        Ok("v1".into())
    );
    past_the_ttl().await;
    // The database is down: the old value, once its generations are found current.
    assert_eq!(
        read(&cache, &KEPT, "acme", &loads, Err("db down")).await,
        Ok("v1".into())
    );
    assert_eq!(loads.load(Ordering::SeqCst), 2, "the reload was tried");
    assert_eq!(stale_served(&cache), 1);
    // Within the throttle: not tried again.
    for _ in 0..3 {
        assert_eq!(
            read(&cache, &KEPT, "acme", &loads, Err("db down")).await,
            Ok("v1".into())
        );
    }
    assert_eq!(loads.load(Ordering::SeqCst), 2, "held back by the throttle");
    assert_eq!(stale_served(&cache), 4);
    // After it: tried again; the database is back, the new value is stored.
    tokio::time::sleep(THROTTLE + Duration::from_millis(100)).await; // the throttle's own time
    assert_eq!(
        read(&cache, &KEPT, "acme", &loads, Ok("v2")).await,
        Ok("v2".into())
    );
    assert_eq!(loads.load(Ordering::SeqCst), 3);
    assert_eq!(
        read(&cache, &KEPT, "acme", &loads, Ok("v3")).await,
        Ok("v2".into()),
        "a hit"
    );
    // Another tenant without an old value: the error, as without fail-safe.
    assert_eq!(
        read(&cache, &KEPT, "globex", &loads, Err("db down")).await,
        Err("db down".into())
    );
}

async fn a_panicking_reload_is_answered_too(cache: Cache) {
    let loads = AtomicUsize::new(0);
    read(&cache, &KEPT, "acme", &loads, Ok("v1")).await.unwrap();
    past_the_ttl().await;
    let out = __private::cached(
        ResultMode::<Result<String, String>>::new(),
        &KEPT,
        Some(cache.clone()),
        parts("acme"),
        __private::ReadOptions::new(),
        async {
            if loads.fetch_add(1, Ordering::SeqCst) < 100 {
                panic!("the driver panicked");
            }
            Ok(String::new())
        },
    )
    .await;
    assert_eq!(out, Ok("v1".into()));
    assert_eq!(stale_served(&cache), 1);
}

async fn an_invalidated_value_is_never_served(cache: Cache) {
    let loads = AtomicUsize::new(0);
    read(&cache, &KEPT, "acme", &loads, Ok("v1")).await.unwrap();
    past_the_ttl().await;
    cache.invalidate("failsafe", "acme").await;
    assert_eq!(
        read(&cache, &KEPT, "acme", &loads, Err("db down")).await,
        Err("db down".into()),
        "an invalidated value is gone, even past its TTL"
    );
    // And an invalidation after a fail-safe answer ends it at once, throttle or not.
    read(&cache, &KEPT, "globex", &loads, Ok("g1"))
        .await
        .unwrap();
    past_the_ttl().await;
    assert_eq!(
        read(&cache, &KEPT, "globex", &loads, Err("down")).await,
        Ok("g1".into())
    );
    cache.invalidate("failsafe", "globex").await;
    assert_eq!(
        read(&cache, &KEPT, "globex", &loads, Err("down")).await,
        Err("down".into())
    );
    assert_eq!(stale_served(&cache), 1);
}

async fn an_invalidation_during_the_failing_reload_wins(cache: Cache) {
    let loads = AtomicUsize::new(0);
    read(&cache, &KEPT, "acme", &loads, Ok("v1")).await.unwrap();
    past_the_ttl().await;
    // The reload fails after a write invalidated the scope: the old value must not come
    // back, though its generations were current when the read began. (Boxed: a debug
    // build would put the nested futures on this test's 2 MiB stack.)
    let out = Box::pin(__private::cached(
        ResultMode::<Result<String, String>>::new(),
        &KEPT,
        Some(cache.clone()),
        parts("acme"),
        __private::ReadOptions::new(),
        async {
            Box::pin(cache.invalidate("failsafe", "acme")).await;
            Err::<String, _>("db down".to_owned())
        },
    ))
    .await;
    assert_eq!(out, Err("db down".into()));
    assert_eq!(stale_served(&cache), 0);
}

async fn a_site_without_fail_safe_reads_the_ttl_not_the_grace(cache: Cache) {
    let loads = AtomicUsize::new(0);
    read(&cache, &KEPT, "acme", &loads, Ok("v1")).await.unwrap();
    assert_eq!(
        read(&cache, &PLAIN, "acme", &loads, Ok("x")).await,
        Ok("v1".into())
    );
    past_the_ttl().await;
    // Kept in the backend for the grace, but past its TTL: a miss for a plain site.
    assert_eq!(
        read(&cache, &PLAIN, "acme", &loads, Ok("v2")).await,
        Ok("v2".into())
    );
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

async fn within_its_ttl_an_entry_is_a_plain_hit(cache: Cache) {
    let loads = AtomicUsize::new(0);
    read(&cache, &KEPT, "acme", &loads, Ok("v1")).await.unwrap();
    assert_eq!(
        read(&cache, &KEPT, "acme", &loads, Err("down")).await,
        Ok("v1".into())
    );
    assert_eq!(loads.load(Ordering::SeqCst), 1, "a hit: no reload");
    assert_eq!(stale_served(&cache), 0);
    let site = cache.stats().site("failsafe", "item");
    assert_eq!((site.hits, site.misses), (1, 1));
}

/// Jitter spreads the TTLs of entries filled together, and a grace adds to each; read
/// with `PTTL` on the server (the shared one: this suite is not rerun on the cluster).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_spreads_the_ttls_and_the_grace_adds_to_them() {
    static SPREAD: Site = Site::new("jittered", "item", Duration::from_secs(100), 0)
        .with_jitter(0.5)
        .with_fail_safe(Duration::from_secs(1000));
    let scoped = testkit::redis_cache("jitter_spreads_the_ttls").await;
    let cache = scoped.cache.clone();
    let loads = AtomicUsize::new(0);
    let mut conn = redis::Client::open(testkit::redis_url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("a connection");
    let mut ttls = Vec::new();
    for i in 0..30 {
        let tenant = format!("t{i}");
        read(&cache, &SPREAD, &tenant, &loads, Ok("v"))
            .await
            .unwrap();
        let keys =
            cache_core::key::call_keys(cache.namespace(), "jittered", "item", 0, &parts(&tenant));
        let left: i64 = redis::cmd("PTTL")
            .arg(keys.entry())
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        ttls.push(left);
    }
    // TTL 100 s ± 50%, plus the 1000 s grace.
    assert!(
        ttls.iter().all(|&ms| (1_049_000..=1_150_000).contains(&ms)),
        "{ttls:?}"
    );
    let low = ttls.iter().filter(|&&ms| ms < 1_090_000).count();
    let high = ttls.iter().filter(|&&ms| ms > 1_110_000).count();
    assert!(low > 0 && high > 0, "spread both ways: {ttls:?}");
}

async fn a_slow_reload_answers_with_the_old_value_and_goes_on(cache: Cache) {
    let loads = AtomicUsize::new(0);
    assert_eq!(
        read(&cache, &KEPT, "acme", &loads, Ok("v1")).await,
        Ok("v1".into())
    );
    past_the_ttl().await;
    let (begun, began) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel();
    let since = std::time::Instant::now();
    // The database is slow: past the timeout, the old value.
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        slow_read(&cache, begun, released, "v2"),
    );
    let answer = answer.await.expect("the caller waited for the slow reload");
    assert_eq!(answer, Ok("v1".into()));
    assert!(since.elapsed() >= Duration::from_millis(200));
    began.await.expect("the reload began");
    assert_eq!(stale_served(&cache), 1);
    // The reload goes on after the caller was answered, then stores.
    assert_eq!(cache.loads_in_flight(), 1, "the reload is still under way");
    release.send(()).expect("the reload is waiting");
    settled(&cache).await;
    assert_eq!(
        read(&cache, &KEPT, "acme", &loads, Ok("v3")).await,
        Ok("v2".into()),
        "the slow reload's value was stored"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

async fn an_invalidation_during_a_slow_reload_is_not_answered_with_the_old_value(cache: Cache) {
    let loads = AtomicUsize::new(0);
    assert_eq!(
        read(&cache, &KEPT, "acme", &loads, Ok("v1")).await,
        Ok("v1".into())
    );
    past_the_ttl().await;
    let (begun, began) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel();
    let caller = tokio::spawn({
        let cache = cache.clone();
        async move { slow_read(&cache, begun, released, "v2").await }
    });
    began.await.expect("the reload began");
    cache.invalidate("failsafe", "acme").await;
    // Past the timeout (a real wait: the timeout is time), the caller still waits: the
    // old value was invalidated.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!caller.is_finished(), "answered with an invalidated value");
    release.send(()).expect("the reload is waiting");
    assert_eq!(caller.await.expect("the caller"), Ok("v2".into()));
    assert_eq!(stale_served(&cache), 0);
}
