//! Redis failing under the cache: each test runs its own `redis-server` (never the
//! shared one) and kills, freezes or restarts it.

mod common;

use testkit::until_no_pending;

use cache_core::{Cache, CacheError};
use common::{Source, read, source_value, until_hit};
use std::time::{Duration, Instant};
use testkit::{RedisServer, free_port, test_builder, unique_namespace};

const DEADLINE: Duration = Duration::from_millis(100);

async fn cache_on(url: &str, lazy: bool) -> Cache {
    let builder = test_builder(url, &unique_namespace("faults"))
        .op_timeout(DEADLINE)
        .connect_timeout(Duration::from_millis(300))
        .breaker(3, Duration::from_millis(200));
    let builder = if lazy { builder.lazy() } else { builder };
    builder.build().await.expect("build")
}

#[tokio::test]
async fn build_names_what_to_fix() {
    let malformed = Cache::builder().redis_url("redis//nope").build().await;
    assert!(
        matches!(malformed, Err(CacheError::InvalidUrl { .. })),
        "{malformed:?}"
    );

    let nothing = format!("redis://127.0.0.1:{}", free_port());
    let unreachable = Cache::builder()
        .redis_url(&nothing)
        .connect_timeout(Duration::from_millis(300))
        .build()
        .await;
    match unreachable {
        Err(error @ CacheError::Unreachable { .. }) => {
            assert!(error.to_string().contains("unreachable"), "{error}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }

    let server = RedisServer::start_with(&["--requirepass", "right"]);
    let wrong = format!("redis://:wrong@127.0.0.1:{}", server.addr().port());
    match Cache::builder().redis_url(&wrong).build().await {
        Err(error @ CacheError::Auth { .. }) => {
            let text = error.to_string();
            assert!(text.contains("credentials"), "{text}");
            assert!(
                !text.contains("wrong@"),
                "the password is not shown: {text}"
            );
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    let right = format!("redis://:right@127.0.0.1:{}", server.addr().port());
    assert!(Cache::builder().redis_url(&right).build().await.is_ok());

    // TLS to a plain server (or, without the `tls` feature, TLS at all) is a TLS error.
    let tls = Cache::builder()
        .redis_url(format!("rediss://127.0.0.1:{}", server.addr().port()))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .await;
    assert!(matches!(tls, Err(CacheError::Tls { .. })), "{tls:?}");

    let bad_namespace = Cache::builder().memory().namespace("a{b}").build().await;
    assert!(matches!(
        bad_namespace,
        Err(CacheError::InvalidNamespace(_))
    ));
}

#[tokio::test]
async fn unreachable_redis_serves_from_the_source_with_bounded_delay() {
    let nothing = format!("redis://127.0.0.1:{}", free_port());
    let cache = cache_on(&nothing, true).await;
    let source = Source::default();
    source.put("acme", "v");
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(read(&cache, &source, "acme").await, Ok("v".into()));
        assert!(
            started.elapsed() < DEADLINE * 5,
            "a call took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(source.loads(), 20, "every call ran the function");
    assert!(
        cache.is_breaker_open(),
        "repeated failures open the breaker"
    );
    assert!(cache.stats().prefix("fmpa").bypasses > 0);
}

#[tokio::test]
async fn frozen_redis_costs_at_most_the_deadline() {
    let server = RedisServer::start();
    let cache = cache_on(&server.url(), false).await;
    let source = Source::default();
    source.put("acme", "v");
    read(&cache, &source, "acme").await.unwrap();
    server.freeze();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(read(&cache, &source, "acme").await, Ok("v".into()));
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < DEADLINE * 3, "slowest call {slowest:?}");
    assert!(cache.is_breaker_open());
    // Once open, a call skips Redis: no deadline to wait for.
    let started = Instant::now();
    read(&cache, &source, "acme").await.unwrap();
    assert!(
        started.elapsed() < DEADLINE / 2,
        "open breaker call took {:?}",
        started.elapsed()
    );
    server.thaw();
    until_hit(&cache, &source, "acme", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn redis_restarted_mid_run_recovers() {
    let mut server = RedisServer::start();
    let cache = cache_on(&server.url(), false).await;
    let source = Source::default();
    source.put("acme", "v");
    read(&cache, &source, "acme").await.unwrap();
    until_hit(&cache, &source, "acme", Duration::from_secs(1)).await;
    server.restart();
    // No error surfaces, and caching resumes by itself.
    until_hit(&cache, &source, "acme", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn lazy_start_begins_caching_once_redis_is_up() {
    let mut server = RedisServer::start();
    server.kill();
    let cache = cache_on(&server.url(), true).await;
    let source = Source::default();
    source.put("acme", "v");
    assert_eq!(read(&cache, &source, "acme").await, Ok("v".into()));
    server.start_again();
    until_hit(&cache, &source, "acme", Duration::from_secs(5)).await;
}

/// An invalidation that cannot reach Redis is kept; this process serves that scope from
/// the source meanwhile; when Redis comes back (here from a snapshot that still holds
/// the old entry and generations) the invalidation lands before anything stale is read.
#[tokio::test]
async fn invalidation_during_an_outage_is_retried() {
    let mut server = RedisServer::start();
    let cache = cache_on(&server.url(), false).await;
    let source = Source::default();
    source.put("acme", "old");
    source.put("globex", "g");
    read(&cache, &source, "acme").await.unwrap();
    read(&cache, &source, "globex").await.unwrap();
    server.save();
    server.kill();

    source.put("acme", "new");
    assert!(cache.try_invalidate("fmpa", "acme").await.is_err());
    assert_eq!(cache.pending_invalidations(), 1);
    assert_eq!(read(&cache, &source, "acme").await, Ok("new".into()));

    server.start_again(); // loads the snapshot: the old entry is back in Redis
    for _ in 0..50 {
        assert_eq!(
            read(&cache, &source, "acme").await,
            Ok("new".into()),
            "stale read"
        );
    }
    until_no_pending(&cache).await;
    assert_eq!(read(&cache, &source, "acme").await, Ok("new".into()));
    until_hit(&cache, &source, "acme", Duration::from_secs(5)).await;
    // The other tenant was not invalidated: it is still served from the snapshot.
    until_hit(&cache, &source, "globex", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn delete_pattern_over_ten_thousand_keys() {
    let scoped = testkit::redis_cache("delete-pattern").await;
    let ttl = Duration::from_secs(120);
    let mut set = tokio::task::JoinSet::new();
    for batch in 0..20 {
        let cache = scoped.cache.clone();
        set.spawn(async move {
            for i in (batch * 500)..(batch * 500 + 500) {
                cache.try_set(&format!("bulk:{i}"), &i, ttl).await.unwrap();
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
    scoped.cache.set("keep:1", &1, ttl).await;
    assert_eq!(scoped.cache.delete_pattern("bulk:*").await, 10_000);
    assert!(!scoped.cache.exists("bulk:42").await);
    assert!(scoped.cache.exists("keep:1").await);
}

/// Through a proxy that delays past the deadline, blackholes, resets connections or cuts
/// replies in the middle: 8 concurrent callers always get the source's value, no call
/// waits much past the deadline, and caching comes back when the proxy passes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_network_fault_is_a_bounded_miss() {
    use testkit::{Fault, Proxy};
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr()).await;
    let cache = cache_on(&proxy.url(), false).await;
    let source = Source::default();
    source.put("acme", "v");
    until_hit(&cache, &source, "acme", Duration::from_secs(2)).await;
    for fault in [
        Fault::Delay(DEADLINE * 3),
        Fault::Blackhole,
        Fault::CutMidReply,
        Fault::Reset,
    ] {
        proxy.set(fault);
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let (cache, source) = (cache.clone(), source.clone());
                tokio::spawn(async move {
                    let mut slowest = Duration::ZERO;
                    for _ in 0..10 {
                        let started = Instant::now();
                        assert_eq!(read(&cache, &source, "acme").await, Ok("v".into()));
                        slowest = slowest.max(started.elapsed());
                    }
                    slowest
                })
            })
            .collect();
        for caller in callers {
            // A hung caller fails the test instead of hanging it.
            let slowest = tokio::time::timeout(Duration::from_secs(10), caller)
                .await
                .unwrap_or_else(|_| panic!("{fault:?}: a caller hung"))
                .expect("no caller panicked");
            assert!(slowest < DEADLINE * 4, "{fault:?}: a call took {slowest:?}");
        }
        assert!(
            cache.stats().prefix("fmpa").errors + cache.stats().prefix("fmpa").bypasses > 0,
            "{fault:?} was seen"
        );
        proxy.set(Fault::Pass);
        eprintln!("recovering from {fault:?}");
        until_hit(&cache, &source, "acme", Duration::from_secs(5)).await;
    }
}

/// Randomised: in each round some tenants are written and invalidated while Redis is
/// down, then Redis comes back from a snapshot that still holds every old entry and
/// generation. No read after recovery may return data older than a write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_invalidations_randomised() {
    let mut server = RedisServer::start();
    let cache = cache_on(&server.url(), false).await;
    let source = Source::default();
    let tenants = ["a", "b", "c", "d"];
    let mut rng = testkit::Rng::new(0x9E37_79B9_7F4A_7C15);
    for round in 0..8 {
        for t in tenants {
            source.put(t, &format!("{t}{round}"));
            cache.try_invalidate("fmpa", t).await.expect("Redis is up");
            until_hit(&cache, &source, t, Duration::from_secs(5)).await;
        }
        server.save();
        server.kill();
        for t in tenants {
            if rng.below(2) == 0 {
                source.put(t, &format!("{t}{round}-new"));
                assert!(
                    cache.try_invalidate("fmpa", t).await.is_err(),
                    "Redis is down"
                );
            }
        }
        server.restart(); // back with the old entries and generations
        for t in tenants {
            let expected = source_value(&source, t);
            assert_eq!(
                read(&cache, &source, t).await,
                Ok(expected.clone()),
                "round {round}, {t}: stale right after recovery"
            );
        }
        until_no_pending(&cache).await;
        for t in tenants {
            until_hit(&cache, &source, t, Duration::from_secs(5)).await;
        }
    }
}
