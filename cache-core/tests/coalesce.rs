//! Coalesced hits, on a private `redis-server` behind a proxy (its command counts are
//! this test's alone; the proxy holds replies so that reads are surely in flight): hits
//! issued while two are in flight share one `MGET`, each gets its own
//! values; a failed shared read fails open for all of them; a dropped first hit does not
//! strand the ones gathered behind it; with coalescing off, every hit is its own `MGET`.

use cache_core::{Cache, cached};
use futures_util::future::join_all;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;
use testkit::{Fault, Proxy, RedisServer, test_builder, unique_namespace};

static LOADS: AtomicU64 = AtomicU64::new(0);

/// A value of its own per tenant and item, so that a hit given another's values shows.
#[cached(prefix = "row", ttl = "5m", key = tenant, item, cache = cache)]
async fn row(cache: &Cache, tenant: &str, item: u32) -> Result<String, String> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{tenant}/{item}"))
}

/// A tagged read: its tag generations are keys the gathered hits share.
#[cached(prefix = "row", name = "tagged", ttl = "5m", key = tenant, item, tag(kind = tenant), cache = cache)]
async fn tagged(cache: &Cache, tenant: &str, item: u32) -> Result<String, String> {
    Ok(format!("tagged {tenant}/{item}"))
}

/// Polls `future` once: whether it is still pending.
async fn pending_after_one_poll<F: Future + Unpin>(future: &mut F) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx).is_pending())).await
}

type Call<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// 8 tenants × 4 items, each asked twice, plain and tagged: 64 hits.
fn hits(cache: &Cache) -> (Vec<Call<'_>>, Vec<String>) {
    let mut calls: Vec<Call<'_>> = Vec::new();
    let mut expected = Vec::new();
    for round in 0..2 {
        for tenant in ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"] {
            for item in 0..4 {
                if round == 0 {
                    calls.push(Box::pin(row(cache, tenant, item)));
                    expected.push(format!("{tenant}/{item}"));
                } else {
                    calls.push(Box::pin(tagged(cache, tenant, item)));
                    expected.push(format!("tagged {tenant}/{item}"));
                }
            }
        }
    }
    (calls, expected)
}

/// Fills every entry `hits` reads, one call at a time.
async fn warm(cache: &Cache) {
    for (call, expected) in hits(cache).0.into_iter().zip(hits(cache).1) {
        assert_eq!(call.await.as_deref(), Ok(expected.as_str()));
    }
}

/// A private server behind a proxy, and a cache on it (`configure`d), its entries warm.
struct Setup {
    /// Runs as long as this is held.
    _server: RedisServer,
    proxy: Proxy,
    cache: Cache,
    conn: redis::aio::MultiplexedConnection,
}

async fn setup(
    test: &str,
    configure: impl FnOnce(cache_core::CacheBuilder) -> cache_core::CacheBuilder,
) -> Setup {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr()).await;
    let cache = configure(test_builder(&proxy.url(), &unique_namespace(test)))
        .build()
        .await
        .expect("cache");
    let conn = testkit::raw_connection(&server.url()).await;
    warm(&cache).await;
    Setup {
        _server: server,
        proxy,
        cache,
        conn,
    }
}

/// Starts every call of `hits` while the proxy holds all replies (so the first call's
/// read is surely in flight when each of the others starts), then lets the replies go.
async fn started_while_held(proxy: &Proxy, calls: &mut [Call<'_>]) {
    proxy.set(Fault::Blackhole);
    for call in calls.iter_mut() {
        assert!(pending_after_one_poll(call).await, "no reply can arrive");
    }
    proxy.set(Fault::Pass);
}

fn all_ok(expected: Vec<String>) -> Vec<Result<String, String>> {
    expected.into_iter().map(Ok).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_in_flight_together_share_one_read() {
    let Setup {
        _server,
        proxy,
        cache,
        mut conn,
    } = setup("coalesce", |b| b).await;
    let before = testkit::command_calls(&mut conn, "mget").await;
    let (mut calls_, expected) = hits(&cache);
    started_while_held(&proxy, &mut calls_).await;
    assert_eq!(join_all(calls_).await, all_ok(expected));
    // The first two hits' own `MGET`s (two may be in flight), then one for the 62
    // gathered behind them.
    assert_eq!(testkit::command_calls(&mut conn, "mget").await - before, 3);
    let stats = cache.stats().site("row", "row");
    assert_eq!(
        (stats.hits, stats.misses, stats.bypasses),
        (32, 32, 0),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_every_hit_is_its_own_read() {
    let Setup {
        _server,
        proxy,
        cache,
        mut conn,
    } = setup("coalesce-off", |b| b.coalesce_hits(false)).await;
    let before = testkit::command_calls(&mut conn, "mget").await;
    let (mut calls_, expected) = hits(&cache);
    started_while_held(&proxy, &mut calls_).await;
    assert_eq!(join_all(calls_).await, all_ok(expected));
    assert_eq!(testkit::command_calls(&mut conn, "mget").await - before, 64);
}

/// The shared read times out (the proxy holds every reply): each gathered hit fails open
/// to its own function, never to another's value, and nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_shared_read_fails_open_for_each() {
    let Setup {
        _server,
        proxy,
        cache,
        ..
    } = setup("coalesce-fail", |b| {
        b.op_timeout(Duration::from_millis(100))
            .breaker(1000, Duration::from_millis(10))
    })
    .await;
    let loads = LOADS.load(Ordering::SeqCst);
    let (calls_, expected) = hits(&cache);
    proxy.set(Fault::Blackhole);
    assert_eq!(join_all(calls_).await, all_ok(expected));
    proxy.set(Fault::Pass);
    // Every plain read ran its function (the tagged ones have no counter).
    assert!(LOADS.load(Ordering::SeqCst) - loads >= 32);
    let stats = cache.stats().site("row", "row");
    assert!(stats.errors + stats.bypasses >= 32, "{stats:?}");
}

/// The first hit's future is dropped while its read is in flight: the hits gathered
/// behind it are still sent and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_first_hit_does_not_strand_the_others() {
    let Setup {
        _server,
        proxy,
        cache,
        mut conn,
    } = setup("coalesce-drop", |b| b).await;
    let before = testkit::command_calls(&mut conn, "mget").await;
    let (mut calls_, expected) = hits(&cache);
    proxy.set(Fault::Blackhole);
    for call in calls_.iter_mut() {
        assert!(pending_after_one_poll(call).await);
    }
    // The first hit holds one of the slot's two places in flight; it goes while its read
    // is held.
    drop(calls_.remove(0));
    proxy.set(Fault::Pass);
    let got = tokio::time::timeout(Duration::from_secs(10), join_all(calls_))
        .await
        .expect("the gathered hits are answered");
    assert_eq!(got, all_ok(expected.into_iter().skip(1).collect()));
    let stats = cache.stats().site("row", "row");
    assert_eq!(
        (stats.hits, stats.bypasses, stats.errors),
        (31, 0, 0),
        "{stats:?}"
    );
    let sent = testkit::command_calls(&mut conn, "mget").await - before;
    assert!((2..=3).contains(&sent), "{sent} MGETs");
}
