//! The fleet checks itself, on the Redis this run targets: each cache publishes a manifest
//! for its namespace, and a live peer whose key names would differ for the same call is
//! told (counted, logged with both sides), and refused by the cache that joins last, so
//! that every invalidation still reaches every entry. A rolling rotation done as README
//! says keeps one naming key, and so one set of names.

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::{Cache, CacheBuilder, Disagreement, EncryptionKeys};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use testkit::{ScopedCache, Target};

/// A sensitive site, and the same read in a process that does not declare it sensitive.
static SESSION: Site = Site::new("session", "get", Duration::from_secs(3600), 0).sensitive();
static PLAIN_SESSION: Site = Site::new("session", "get", Duration::from_secs(3600), 0);

const PERIOD: Duration = Duration::from_millis(100);

fn keys(ids: &[(&str, u8)]) -> EncryptionKeys {
    ids.iter().fold(EncryptionKeys::new(), |keys, (id, byte)| {
        keys.with_key(*id, [*byte; 32])
    })
}

fn builder(scoped: &ScopedCache) -> CacheBuilder {
    Target::from_env()
        .builder(scoped.namespace())
        .fleet_period(PERIOD)
}

/// A cache with `keys` and `session` declared sensitive.
async fn sensitive(scoped: &ScopedCache, keys: EncryptionKeys) -> Cache {
    builder(scoped)
        .encryption_keys(keys)
        .sensitive_prefix("session")
        .build()
        .await
        .expect("cache")
}

/// Reads `tenant`'s session through `site`; whether it loaded.
async fn read(cache: &Cache, site: &'static Site, tenant: &str) -> bool {
    let loads = AtomicUsize::new(0);
    let mut parts = KeyParts::new();
    parts.scope(tenant).arg(&"token");
    __private::cached(
        ResultMode::<Result<String, String>>::new(),
        site,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(format!("{tenant}'s session"))
        },
    )
    .await
    .expect("the read");
    loads.load(Ordering::SeqCst) == 1
}

/// Waits (polling, 5 s deadline) until `cache` has counted `n` disagreements.
async fn until_told(cache: &Cache, n: u64) {
    let started = Instant::now();
    while cache.stats().fleet.disagreements < n {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the running cache never saw the disagreement: {:?}",
            cache.fleet()
        );
        tokio::time::sleep(PERIOD / 4).await; // pacing while polling
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_sensitive_there_and_plain_here_is_refused_here() {
    let scoped = testkit::redis_cache("fleet_sensitivity").await;
    let running = sensitive(&scoped, keys(&[("k1", 1)])).await;
    assert!(read(&running, &SESSION, "acme").await);
    assert!(!read(&running, &SESSION, "acme").await, "a hit");
    // A process that does not declare the prefix sensitive joins: it refuses the prefix
    // (its key names would be plain), used or not.
    let plain = builder(&scoped).build().await.expect("cache");
    let report = plain.fleet().expect("a Redis cache has a fleet");
    assert!(report.checked);
    assert_eq!(report.refused, ["session"]);
    assert!(
        report.disagreements.is_empty(),
        "not used here yet: {report:?}"
    );
    // It does not cache the prefix, and invalidates it whole: the running cache's entry,
    // under hashed names it cannot write, goes.
    for _ in 0..2 {
        assert!(read(&plain, &PLAIN_SESSION, "acme").await);
    }
    assert_eq!(plain.stats().prefix("session").bypasses, 2);
    plain.invalidate("session", "acme").await;
    assert!(
        read(&running, &SESSION, "acme").await,
        "the plain cache's invalidation reached the sensitive cache's entry"
    );
    // Used here now: both sides tell, each naming the other; only the plain one refuses.
    until_told(&plain, 1).await;
    let report = plain.fleet().expect("fleet");
    assert!(
        matches!(
            &report.disagreements[..],
            [Disagreement::Sensitivity { prefix, sensitive_here: false, .. }] if prefix == "session"
        ),
        "{report:?}"
    );
    let told = report.disagreements[0].to_string();
    let peer = report
        .peers
        .iter()
        .find(|peer| !peer.sensitive.is_empty())
        .expect("the sensitive peer");
    assert!(
        told.contains("plain in this process") && told.contains(&peer.process),
        "both sides named: {told}"
    );
    until_told(&running, 1).await;
    let report = running.fleet().expect("fleet");
    assert!(report.refused.is_empty(), "{report:?}");
    assert!(
        !read(&running, &SESSION, "acme").await,
        "still cached there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_naming_key_is_refused_by_the_one_that_joins() {
    let scoped = testkit::redis_cache("fleet_naming").await;
    // Step two of a rotation done by dropping k1, while processes with [k2, k1] run.
    let running = sensitive(&scoped, keys(&[("k2", 2), ("k1", 1)])).await;
    assert!(read(&running, &SESSION, "acme").await);
    let joining = sensitive(&scoped, keys(&[("k2", 2)])).await;
    let report = joining.fleet().expect("fleet");
    assert!(
        matches!(&report.disagreements[..], [Disagreement::Naming { prefixes, .. }] if prefixes == &["session"]),
        "{report:?}"
    );
    let told = report.disagreements[0].to_string();
    assert!(
        told.contains("[\"k2\"]") && told.contains("[\"k2\", \"k1\"]"),
        "both sides' keys named: {told}"
    );
    assert_eq!(report.refused, ["session"]);
    assert!(read(&joining, &SESSION, "acme").await);
    assert!(read(&joining, &SESSION, "acme").await, "not cached there");
    joining.invalidate("session", "acme").await;
    assert!(
        read(&running, &SESSION, "acme").await,
        "the joining cache's invalidation reached the running cache's entry"
    );
    until_told(&running, 1).await;
    // The dispute ends when the joining cache goes: the running one never refused.
    drop(joining);
    assert!(!read(&running, &SESSION, "acme").await);
}

/// Step two of the README's rotation, rolling out in any order: processes with `[k2, k1]`
/// and processes with `[k2]` keeping `k1` as the naming key write the same names, so each
/// one's invalidations reach the other's entries, and each reads the other's entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_retirement_done_as_readme_says_keeps_the_names() {
    let scoped = testkit::redis_cache("fleet_rotation").await;
    let step_one = sensitive(&scoped, keys(&[("k2", 2), ("k1", 1)])).await;
    let step_two = sensitive(&scoped, keys(&[("k2", 2)]).with_naming_key("k1", [1; 32])).await;
    for cache in [&step_one, &step_two] {
        let report = cache.fleet().expect("fleet");
        assert!(report.disagreements.is_empty(), "{report:?}");
        assert!(report.refused.is_empty());
    }
    assert!(read(&step_one, &SESSION, "acme").await);
    assert!(
        !read(&step_two, &SESSION, "acme").await,
        "the same entry, sealed with k2"
    );
    step_two.invalidate("session", "acme").await;
    assert!(
        read(&step_one, &SESSION, "acme").await,
        "invalidated by the other"
    );
    assert!(read(&step_two, &SESSION, "globex").await);
    assert!(!read(&step_one, &SESSION, "globex").await);
    step_one.invalidate("session", "globex").await;
    assert!(
        read(&step_two, &SESSION, "globex").await,
        "invalidated by the other"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_key_format_is_told() {
    let scoped = testkit::redis_cache("fleet_format").await;
    // A peer of another version of the library, as its manifest says.
    let peer = serde_json::json!({
        "id": "older-version",
        "process": "pid 7 on elsewhere",
        "key_format": "c3",
    });
    let writer = builder(&scoped).build().await.expect("cache");
    __private::raw::publish_manifest(
        &writer,
        "older-version",
        &peer.to_string(),
        Duration::from_secs(60),
    )
    .await;
    drop(writer);
    let joining = builder(&scoped).build().await.expect("cache");
    let report = joining.fleet().expect("fleet");
    assert!(
        matches!(&report.disagreements[..], [Disagreement::KeyFormat { theirs, .. }] if theirs == "c3"),
        "{report:?}"
    );
    assert!(report.refused.is_empty(), "no refusal bridges two formats");
    assert_eq!(joining.stats().fleet.disagreements, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_that_goes_away_takes_its_manifest_with_it() {
    let scoped = testkit::redis_cache("fleet_leave").await;
    let a = builder(&scoped).build().await.expect("cache");
    let b = builder(&scoped).build().await.expect("cache");
    // Agreeing peers (and the test's own cache): no disagreement, and no cache is its own
    // peer.
    assert_eq!(a.fleet().expect("fleet").peers.len(), 1);
    assert_eq!(b.fleet().expect("fleet").peers.len(), 2);
    assert!(b.fleet().expect("fleet").disagreements.is_empty());
    drop(a);
    let started = Instant::now();
    while b.stats().fleet.peers > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the dropped cache's manifest stayed"
        );
        tokio::time::sleep(PERIOD / 4).await; // pacing while polling
    }
}

/// Waits (polling, 5 s deadline) until what the fleet published, read through `cache`,
/// satisfies `done`.
async fn until_published(
    cache: &Cache,
    done: impl Fn(&[cache_core::ProcessStats]) -> bool,
) -> Vec<cache_core::ProcessStats> {
    let started = Instant::now();
    loop {
        let published = cache.fleet_stats().await.expect("the published statistics");
        if done(&published) {
            return published;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the fleet's statistics never showed it: {published:#?}"
        );
        tokio::time::sleep(PERIOD / 4).await; // pacing while polling
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_publishes_its_statistics_and_they_add_up() {
    let scoped = testkit::redis_cache("fleet_stats").await;
    let a = builder(&scoped).build().await.expect("cache");
    let b = builder(&scoped).build().await.expect("cache");
    let quiet = builder(&scoped)
        .publish_stats(false)
        .build()
        .await
        .expect("cache");
    assert!(read(&a, &PLAIN_SESSION, "tenant-1").await);
    assert!(!read(&a, &PLAIN_SESSION, "tenant-1").await);
    assert!(read(&b, &PLAIN_SESSION, "tenant-2").await);
    let site = |all: &[cache_core::ProcessStats]| {
        let mut sum = cache_core::CacheStats::default();
        all.iter().for_each(|process| sum.add(&process.stats));
        sum.site("session", "get")
    };
    let published = until_published(&quiet, |all| {
        let get = site(all);
        (get.hits, get.misses, get.loads) == (1, 2, 2)
    })
    .await;
    let quiet_id = &quiet.fleet().expect("fleet").manifest.id;
    assert!(
        published.iter().all(|process| &process.id != quiet_id),
        "a cache built with publish_stats(false) published"
    );
    let a_id = a.fleet().expect("fleet").manifest.id;
    assert!(published.iter().any(|process| process.id == a_id));
    // A cache that goes away takes its statistics with it.
    drop(a);
    until_published(&quiet, |all| {
        all.iter().all(|process| process.id != a_id) && site(all).misses == 1
    })
    .await;
}
