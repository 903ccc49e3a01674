//! Invalidation stays exact under faults: retries never undo a newer invalidation, a full
//! Redis still invalidates, a retry task that died with its runtime is replaced, a scope
//! that does not serialize widens to its prefix, a panicking leader strands nobody.
//! Each test runs its own `redis-server` where it changes the server.

mod common;

use testkit::until_no_pending;

use cache_core::{Cache, CacheError};
use common::{LIST, Source, parts, read};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::{Fault, Proxy, RedisServer, test_builder, unique_namespace};

const DEADLINE: Duration = Duration::from_millis(100);

fn builder(url: &str, namespace: &str) -> cache_core::CacheBuilder {
    test_builder(url, namespace)
        .op_timeout(DEADLINE)
        .breaker(3, Duration::from_millis(100))
}

/// `CONFIG SET name value` on the test's private server.
async fn config_set(conn: &mut redis::aio::MultiplexedConnection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("CONFIG SET {name} {value}: {e}"));
}

/// How many generation writes (`UNLINK`, or `SET` in earlier versions) the server has
/// run: with nothing else going on, the retries that reached it.
async fn generation_writes(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    testkit::command_calls(conn, "unlink").await + testkit::command_calls(conn, "set").await
}

/// Waits until the server has run `more` further generation writes (retries of a pending
/// invalidation), polling with a deadline.
async fn until_retried(conn: &mut redis::aio::MultiplexedConnection, more: u64) {
    let target = generation_writes(conn).await + more;
    let started = Instant::now();
    while generation_writes(conn).await < target {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no retry reached Redis"
        );
        tokio::time::sleep(Duration::from_millis(10)).await; // pacing while polling
    }
}

/// A private server with no replica, a cache `a` that asks for one acknowledgement (so
/// every invalidation of it lands but is reported unacknowledged and retried), and a
/// plain cache `b`, in one namespace.
struct Unacknowledged {
    server: RedisServer,
    namespace: String,
    a: Cache,
    b: Cache,
    conn: redis::aio::MultiplexedConnection,
}

impl Unacknowledged {
    async fn start(test: &str) -> Unacknowledged {
        let server = RedisServer::start();
        let namespace = unique_namespace(test);
        let a = builder(&server.url(), &namespace)
            .wait_for_replicas(1)
            .build()
            .await
            .expect("a");
        let b = builder(&server.url(), &namespace).build().await.expect("b");
        let conn = testkit::raw_connection(&server.url()).await;
        Unacknowledged {
            server,
            namespace,
            a,
            b,
            conn,
        }
    }
}

/// One process, `wait_for_replicas(1)` on a server with no replica: every invalidation
/// lands but is reported unacknowledged and retried. A retry must never make the entry
/// that another cache filled between two invalidations current again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_never_undoes_a_later_invalidation() {
    // `_server` keeps the server running to the end of the test.
    let Unacknowledged {
        server: _server,
        a,
        b,
        mut conn,
        ..
    } = Unacknowledged::start("exact-retry").await;
    let source = Source::default();

    source.put("acme", "v1");
    let first = a.try_invalidate("fmpa", "acme").await;
    assert!(
        matches!(first, Err(CacheError::NotReplicated { .. })),
        "{first:?}"
    );
    // b fills v1 (a retry may remove its generation again at any time: one more miss).
    assert_eq!(read(&b, &source, "acme").await.as_deref(), Ok("v1"));

    source.put("acme", "v2");
    let second = a.try_invalidate("fmpa", "acme").await;
    assert!(second.is_err(), "still unacknowledged: {second:?}");
    // Let the retries run a few times, then read through the other cache.
    until_retried(&mut conn, 3).await;
    for _ in 0..5 {
        assert_eq!(read(&b, &source, "acme").await.as_deref(), Ok("v2"));
    }
}

/// Across processes: the second invalidation comes from a third cache and succeeds; the
/// first cache's retries of its own, older invalidation must not revert it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_never_undoes_another_process_invalidation() {
    let Unacknowledged {
        server,
        namespace,
        a,
        b,
        mut conn,
    } = Unacknowledged::start("exact-cross").await;
    let c = builder(&server.url(), &namespace).build().await.expect("c");
    let source = Source::default();

    source.put("acme", "v1");
    assert!(a.try_invalidate("fmpa", "acme").await.is_err());
    assert_eq!(read(&b, &source, "acme").await.as_deref(), Ok("v1"));
    source.put("acme", "v2");
    c.try_invalidate("fmpa", "acme")
        .await
        .expect("c invalidates");
    // No read until a's retries ran: the entry b filled under the first invalidation's
    // generation is still in Redis, for a retry to revive if it could.
    until_retried(&mut conn, 3).await;
    for _ in 0..5 {
        assert_eq!(read(&b, &source, "acme").await.as_deref(), Ok("v2"));
    }
}

/// No replicas: the first invalidation's command is delivered and applied but its reply
/// comes after the deadline; another cache fills; the second invalidation fails at once
/// (breaker open). When the retries land, the second invalidation holds everywhere,
/// the writer included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_but_applied_invalidation_then_a_failed_one() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr()).await;
    let namespace = unique_namespace("exact-delayed");
    let a = test_builder(&proxy.url(), &namespace)
        .op_timeout(DEADLINE)
        .breaker(1, Duration::from_millis(300))
        .build()
        .await
        .expect("a");
    let b = builder(&server.url(), &namespace).build().await.expect("b");
    let source = Source::default();

    source.put("acme", "v1");
    assert_eq!(read(&a, &source, "acme").await.as_deref(), Ok("v1"));
    proxy.set(Fault::Delay(DEADLINE * 3));
    let first = a.try_invalidate("fmpa", "acme").await;
    assert!(matches!(first, Err(CacheError::Timeout(_))), "{first:?}");
    assert!(a.is_breaker_open(), "one failure opens a's breaker");
    // The command was applied: b fills under a fresh generation.
    assert_eq!(read(&b, &source, "acme").await.as_deref(), Ok("v1"));
    assert_eq!(read(&b, &source, "acme").await.as_deref(), Ok("v1"));
    assert_eq!(b.stats().prefix("fmpa").hits, 1);

    source.put("acme", "v2");
    let second = a.try_invalidate("fmpa", "acme").await;
    assert!(matches!(second, Err(CacheError::Unavailable)), "{second:?}");
    assert_eq!(read(&a, &source, "acme").await.as_deref(), Ok("v2"));
    proxy.set(Fault::Pass);
    until_no_pending(&a).await;
    for cache in [&a, &b, &a, &b] {
        assert_eq!(read(cache, &source, "acme").await.as_deref(), Ok("v2"));
    }
}

/// A full Redis (`maxmemory` reached, `noeviction`): `SET` is refused with `OOM`, while
/// `MGET` and `UNLINK` are served. An invalidation still takes effect in every process,
/// the refusals are counted as such and never open the breaker, and other scopes still
/// hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_still_invalidates() {
    let server = RedisServer::start();
    let namespace = unique_namespace("exact-full");
    let a = builder(&server.url(), &namespace).build().await.expect("a");
    let b = builder(&server.url(), &namespace).build().await.expect("b");
    let mut conn = testkit::raw_connection(&server.url()).await;
    let source = Source::default();
    source.put("acme", "v1");
    source.put("other", "o1");
    for tenant in ["acme", "other"] {
        read(&b, &source, tenant).await.expect("fill");
    }

    // Fill the server until a small SET is refused.
    let used: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .expect("INFO");
    let used: u64 = used
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("used_memory");
    config_set(&mut conn, "maxmemory-policy", "noeviction").await;
    config_set(&mut conn, "maxmemory", &(used + 256 * 1024).to_string()).await;
    // Fill until a write is refused; then the limit a little under what is used, since
    // a server at its limit hovers on the edge (each refusal frees a query buffer).
    let junk = vec![b'x'; 1024];
    for i in 0..5_000 {
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("junk:{i}"))
            .arg(&junk)
            .query_async(&mut conn)
            .await;
        if set.is_err() {
            break;
        }
    }
    config_set(&mut conn, "maxmemory", &(used + 128 * 1024).to_string()).await;
    let small: redis::RedisResult<()> = redis::cmd("SET")
        .arg("probe")
        .arg("x")
        .query_async(&mut conn)
        .await;
    let refused = small.is_err_and(|error| error.to_string().contains("OOM"));
    assert!(refused, "the server never filled up");

    source.put("acme", "v2");
    a.try_invalidate("fmpa", "acme")
        .await
        .expect("an invalidation takes effect on a full Redis");
    for _ in 0..10 {
        assert_eq!(read(&b, &source, "acme").await.as_deref(), Ok("v2"));
    }
    let hits = b.stats().prefix("fmpa").hits;
    assert_eq!(read(&b, &source, "other").await.as_deref(), Ok("o1"));
    assert_eq!(
        b.stats().prefix("fmpa").hits,
        hits + 1,
        "other scopes still hit"
    );
    let stats = b.stats().prefix("fmpa");
    assert!(stats.refused >= 10, "refusals are counted: {stats:?}");
    assert_eq!(
        stats.errors, 0,
        "a refusal is not a transport error: {stats:?}"
    );
    assert!(!a.is_breaker_open() && !b.is_breaker_open());
    assert_eq!(a.pending_invalidations(), 0);
    // The private server, and all it holds, goes when `server` is dropped.
}

/// The retry task runs on the runtime of the call that parked the invalidation. When that
/// runtime shuts down, its claim is released, and the next read of the blocked scope
/// starts another: the scope is not bypassed for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_task_lost_with_its_runtime_is_replaced() {
    let server = RedisServer::start();
    let namespace = unique_namespace("exact-runtime");
    let cache = builder(&server.url(), &namespace)
        .build()
        .await
        .expect("cache");
    let source = Source::default();
    source.put("acme", "v1");
    read(&cache, &source, "acme").await.expect("fill");

    server.freeze();
    let elsewhere = cache.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let result = runtime.block_on(elsewhere.try_invalidate("fmpa", "acme"));
        assert!(result.is_err(), "Redis is frozen: {result:?}");
        // The runtime, and the retry task it runs, go away here.
    })
    .join()
    .expect("the other runtime");
    assert_eq!(cache.pending_invalidations(), 1);
    server.thaw();
    // A read of the blocked scope serves the source and starts a retry task here.
    source.put("acme", "v2");
    assert_eq!(read(&cache, &source, "acme").await.as_deref(), Ok("v2"));
    until_no_pending(&cache).await;
    assert_eq!(read(&cache, &source, "acme").await.as_deref(), Ok("v2"));
    assert_eq!(read(&cache, &source, "acme").await.as_deref(), Ok("v2"));
    assert!(cache.stats().prefix("fmpa").hits >= 1, "caching resumed");
}

/// A scope that does not serialize invalidates the whole prefix (coarser, never weaker),
/// for `try_invalidate` as for the attribute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unserializable_scope_invalidates_the_whole_prefix() {
    let scoped = testkit::redis_cache("exact-bad-scope").await;
    let cache = scoped.cache.clone();
    let source = Source::default();
    source.put("acme", "v1");
    read(&cache, &source, "acme").await.expect("fill");
    source.put("acme", "v2");
    // A map with non-string keys has no key encoding.
    let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    cache
        .try_invalidate("fmpa", &bad)
        .await
        .expect("the prefix is invalidated");
    assert_eq!(read(&cache, &source, "acme").await.as_deref(), Ok("v2"));
}

/// A leader that panics inside the load: its followers are released and run their own
/// loads; no flight is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_leader_strands_no_follower() {
    let scoped = testkit::redis_cache("exact-panic").await;
    let cache = scoped.cache.clone();
    let source = Source::default();
    source.put("acme", "v1");
    let gate = Arc::new(tokio::sync::Notify::new());
    let leader = {
        let (cache, gate) = (cache.clone(), gate.clone());
        tokio::spawn(async move {
            cache_core::__private::cached(
                cache_core::__private::ResultMode::<Result<String, String>>::new(),
                &LIST,
                Some(cache),
                parts("acme", 1),
                cache_core::__private::ReadOptions::new(),
                async move {
                    gate.notified().await;
                    panic!("the load panics");
                },
            )
            .await
        })
    };
    while cache.stats().prefix("fmpa").misses < 1 {
        tokio::task::yield_now().await; // until the leader has joined its flight
    }
    let followers: Vec<_> = (0..50)
        .map(|_| {
            let (cache, source) = (cache.clone(), source.clone());
            tokio::spawn(async move { read(&cache, &source, "acme").await })
        })
        .collect();
    while cache.stats().prefix("fmpa").misses < 51 {
        tokio::task::yield_now().await; // until every follower waits on the leader
    }
    gate.notify_one();
    assert!(leader.await.is_err(), "the leader's task panicked");
    for follower in followers {
        assert_eq!(follower.await.expect("follower").as_deref(), Ok("v1"));
    }
    assert_eq!(cache.loads_in_flight(), 0);
    assert!(source.loads() >= 1);
}

/// A cache that is not Redis keeps the same exactness (the retry never runs).
#[tokio::test]
async fn memory_invalidations_never_pend() {
    let cache: Cache = common::memory_cache().await;
    let source = Source::default();
    source.put("acme", "v1");
    read(&cache, &source, "acme").await.expect("fill");
    source.put("acme", "v2");
    cache.try_invalidate("fmpa", "acme").await.expect("memory");
    assert_eq!(read(&cache, &source, "acme").await.as_deref(), Ok("v2"));
    assert_eq!(cache.pending_invalidations(), 0);
}

/// `wait_for_replicas(1)` with a replica that receives nothing (frozen), and connections
/// closed right after a write's reply: no invalidation may be reported acknowledged. A
/// `WAIT` sent on a fresh connection (after a reconnect between the write and it) would
/// count that replica, since the fresh connection wrote nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_always_comes_from_the_connection_that_wrote() {
    let master = RedisServer::start();
    let port = master.addr().port().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    let mut conn = testkit::raw_connection(&master.url()).await;
    let started = Instant::now();
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await
            .expect("INFO");
        if info.contains("connected_slaves:1") && info.contains("state=online") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no replica: {info}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // polling a readiness condition
    }
    replica.freeze();
    let proxy = Proxy::start(master.addr()).await;
    let cache = test_builder(&proxy.url(), &unique_namespace("exact-wait"))
        .op_timeout(DEADLINE)
        .breaker(u32::MAX, Duration::from_millis(1))
        .wait_for_replicas(1)
        .build()
        .await
        .expect("cache");
    // The generations exist (an UNLINK of a missing key writes nothing to replicate).
    let namespace = cache.namespace().to_owned();
    let filler = test_builder(&master.url(), &namespace)
        .build()
        .await
        .expect("filler");
    let source = Source::default();
    for tenant in 0..40 {
        read(&filler, &source, &format!("t{tenant}"))
            .await
            .expect("fill");
    }
    proxy.set(Fault::CloseAfterWrite);
    let mut acknowledged = 0;
    for round in 0..10 {
        let attempts = (0..4).map(|i| {
            let cache = cache.clone();
            let tenant = format!("t{}", round * 4 + i);
            tokio::spawn(async move { cache.try_invalidate("fmpa", &tenant).await })
        });
        for attempt in attempts {
            if attempt.await.expect("task").is_ok() {
                acknowledged += 1;
            }
        }
    }
    replica.thaw();
    assert_eq!(
        acknowledged, 0,
        "invalidations acknowledged though no replica holds them"
    );
}

/// Collects the messages of `WARN` events.
#[derive(Clone, Default)]
struct Warnings(Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Warnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() == tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Two `#[cached]` sites in different modules with the same prefix, name and version
/// but different value types read each other's entries: the second one's first call
/// warns, once.
#[test]
fn sites_sharing_keys_with_other_types_warn_once() {
    use cache_core::__private::{Site, ValueMode, cached};
    static FIRST: Site = Site::new("shared-keys", "list", Duration::from_secs(60), 3);
    static SECOND: Site = Site::new("shared-keys", "list", Duration::from_secs(60), 3);
    static SAME_TYPE: Site = Site::new("shared-keys", "list", Duration::from_secs(60), 3);
    let warnings = Warnings::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    tracing::subscriber::with_default(warnings.clone(), || {
        runtime.block_on(async {
            for _ in 0..3 {
                cached(
                    ValueMode::<u32>::new(),
                    &FIRST,
                    None,
                    Default::default(),
                    cache_core::__private::ReadOptions::new(),
                    async { 1 },
                )
                .await;
                cached(
                    ValueMode::<u32>::new(),
                    &SAME_TYPE,
                    None,
                    Default::default(),
                    cache_core::__private::ReadOptions::new(),
                    async { 1 },
                )
                .await;
                cached(
                    ValueMode::<String>::new(),
                    &SECOND,
                    None,
                    Default::default(),
                    cache_core::__private::ReadOptions::new(),
                    async { "one".to_owned() },
                )
                .await;
            }
        })
    });
    let warnings = warnings.0.lock().unwrap();
    let shared: Vec<_> = warnings
        .iter()
        .filter(|message| message.contains("share a prefix, a name and a version"))
        .collect();
    assert_eq!(shared.len(), 1, "{warnings:?}");
}
