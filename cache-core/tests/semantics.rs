//! The cache-aside semantics, proved on a real Redis and on the memory store alike.

mod common;

use cache_core::__private::{self, KeyParts, OptionMode, ResultMode, Site};
use cache_core::Cache;
use common::{LIST, OTHER_LIST, Source, parts, read, read_at};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

on_both_backends!(
    hit_after_miss,
    ttl_expiry,
    errors_are_never_cached,
    option_policy,
    invalidation_is_per_scope,
    invalidate_all_covers_every_scope,
    slow_reader_across_invalidation,
    single_flight,
    lost_generation_key,
    corrupt_entry,
    entry_of_another_type,
    user_keys,
    get_or_set,
    values_that_serialize_to_null_round_trip,
    tags_invalidate_only_their_entries,
    a_slow_reader_across_a_tag_invalidation,
);

static ITEM: Site = Site::new("tagged", "item", Duration::from_secs(60), 0);
static TAGGED_LIST: Site = Site::new("tagged", "list", Duration::from_secs(60), 0);

/// The keys of the item `id` of `tenant`: tagged by its id.
fn item_parts(tenant: &str, id: u32) -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope(tenant).arg(&id).tag("item", &id);
    parts
}

/// The keys of `tenant`'s list filtered by `status` (`None`: every status).
fn list_parts(tenant: &str, status: Option<&str>) -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope(tenant).arg(&status).tag("status", &status);
    parts
}

/// A cached read through `site` with `parts`; returns whether it loaded.
async fn loaded(cache: &Cache, site: &'static Site, parts: KeyParts) -> bool {
    let ran = AtomicUsize::new(0);
    let value = __private::cached(
        ResultMode::<Result<u32, String>>::new(),
        site,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(7)
        },
    )
    .await;
    assert_eq!(value, Ok(7));
    ran.load(Ordering::SeqCst) == 1
}

/// Invalidates what `parts` names in the prefix `tagged`, as `#[invalidates]` does.
async fn invalidate_tagged(cache: &Cache, parts: KeyParts) {
    __private::invalidate(Some(cache.clone()), &[(&["tagged"][..], &parts)]).await;
}

/// Each read of the table, and whether it loaded: the entries a tag invalidation reaches.
async fn loads_of_table(cache: &Cache) -> Vec<bool> {
    let mut out = Vec::new();
    for (tenant, id) in [("acme", 1), ("acme", 2), ("globex", 1)] {
        out.push(loaded(cache, &ITEM, item_parts(tenant, id)).await);
    }
    for (tenant, status) in [
        ("acme", Some("open")),
        ("acme", Some("closed")),
        ("acme", None),
        ("globex", Some("open")),
    ] {
        out.push(loaded(cache, &TAGGED_LIST, list_parts(tenant, status)).await);
    }
    out
}

/// A tag value invalidates its entries and those of every value of the tag, in one scope
/// or in every scope, and nothing else.
async fn tags_invalidate_only_their_entries(cache: Cache) {
    //                items: acme 1, acme 2, globex 1 | lists: acme open, acme closed, acme all, globex open
    assert_eq!(loads_of_table(&cache).await, [true; 7]);
    assert_eq!(loads_of_table(&cache).await, [false; 7]);

    let mut item_1_in_acme = KeyParts::new();
    item_1_in_acme.scope("acme").tag("item", &1u32);
    invalidate_tagged(&cache, item_1_in_acme).await;
    let only_item_1_of_acme = [true, false, false, false, false, false, false];
    assert_eq!(loads_of_table(&cache).await, only_item_1_of_acme);

    let mut open_in_acme = KeyParts::new();
    open_in_acme.scope("acme").tag("status", &Some("open"));
    invalidate_tagged(&cache, open_in_acme).await;
    let open_and_unfiltered_of_acme = [false, false, false, true, false, true, false];
    assert_eq!(loads_of_table(&cache).await, open_and_unfiltered_of_acme);

    let mut item_1_everywhere = KeyParts::new();
    item_1_everywhere.tag("item", &1u32);
    invalidate_tagged(&cache, item_1_everywhere).await;
    let item_1_of_both = [true, false, true, false, false, false, false];
    assert_eq!(loads_of_table(&cache).await, item_1_of_both);

    let mut open_everywhere = KeyParts::new();
    open_everywhere.tag("status", &"open");
    invalidate_tagged(&cache, open_everywhere).await;
    let open_and_unfiltered_of_both = [false, false, false, true, false, true, true];
    assert_eq!(loads_of_table(&cache).await, open_and_unfiltered_of_both);

    // The scope (and the prefix) still cover every tagged entry.
    cache.invalidate("tagged", "acme").await;
    let all_of_acme = [true, true, false, true, true, true, false];
    assert_eq!(loads_of_table(&cache).await, all_of_acme);
    cache.invalidate_all("tagged").await;
    assert_eq!(loads_of_table(&cache).await, [true; 7]);
    assert_eq!(loads_of_table(&cache).await, [false; 7]);
}

/// A load that straddles an invalidation of its tag value fills an entry nobody reads.
async fn a_slow_reader_across_a_tag_invalidation(cache: Cache) {
    let source = Source::default();
    source.put("acme", "v1");
    let (started, go) = (tokio::sync::Notify::new(), tokio::sync::Notify::new());
    let slow = __private::cached(
        ResultMode::<Result<String, String>>::new(),
        &ITEM,
        Some(cache.clone()),
        item_parts("acme", 9),
        __private::ReadOptions::new(),
        async {
            let value = source.read("acme");
            started.notify_one();
            go.notified().await;
            Ok(value)
        },
    );
    let writer = async {
        started.notified().await;
        source.put("acme", "v2");
        let mut item_9 = KeyParts::new();
        item_9.scope("acme").tag("item", &9u32);
        invalidate_tagged(&cache, item_9).await;
        go.notify_one();
    };
    let (old, ()) = tokio::join!(slow, writer);
    assert_eq!(old.as_deref(), Ok("v1"), "it began before the write");
    let again = __private::cached(
        ResultMode::<Result<String, String>>::new(),
        &ITEM,
        Some(cache.clone()),
        item_parts("acme", 9),
        __private::ReadOptions::new(),
        async { Ok(source.read("acme")) },
    )
    .await;
    assert_eq!(again.as_deref(), Ok("v2"), "the stale fill is never served");
}

/// `Some(x)` where `x` serializes to `null` comes back as `Some(x)`, not `None`: the
/// payload marks the option instead of inferring `None` from `null`.
async fn values_that_serialize_to_null_round_trip(cache: Cache) {
    use cache_core::__private::{ValueMode, cached};

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Unit;

    static UNIT: Site = Site::new("nulls", "unit", Duration::from_secs(60), 0);
    static NULL: Site = Site::new("nulls", "json_null", Duration::from_secs(60), 0);
    static UNIT_STRUCT: Site = Site::new("nulls", "unit_struct", Duration::from_secs(60), 0);
    static NESTED: Site = Site::new("nulls", "nested", Duration::from_secs(60), 0);
    static IN_RESULT: Site = Site::new("nulls", "in_result", Duration::from_secs(60), 0);
    static NONE: Site = Site::new("nulls", "none", Duration::from_secs(60), 0);
    let loads = AtomicUsize::new(0);
    let load = |value| {
        let loads = &loads;
        async move {
            loads.fetch_add(1, Ordering::SeqCst);
            value
        }
    };
    for _ in 0..2 {
        let unit = cached(
            OptionMode::<Option<()>, false>::new(),
            &UNIT,
            Some(cache.clone()),
            KeyParts::new(),
            cache_core::__private::ReadOptions::new(),
            load(Some(())),
        );
        assert_eq!(unit.await, Some(()));
        let null = cached(
            OptionMode::<Option<serde_json::Value>, false>::new(),
            &NULL,
            Some(cache.clone()),
            KeyParts::new(),
            cache_core::__private::ReadOptions::new(),
            async { Some(serde_json::Value::Null) },
        );
        assert_eq!(null.await, Some(serde_json::Value::Null));
        let unit_struct = cached(
            OptionMode::<Option<Unit>, false>::new(),
            &UNIT_STRUCT,
            Some(cache.clone()),
            KeyParts::new(),
            cache_core::__private::ReadOptions::new(),
            async { Some(Unit) },
        );
        assert_eq!(unit_struct.await, Some(Unit));
        let nested = cached(
            ValueMode::<Option<Option<()>>>::new(),
            &NESTED,
            Some(cache.clone()),
            KeyParts::new(),
            cache_core::__private::ReadOptions::new(),
            async { Some(None) },
        );
        assert_eq!(nested.await, Some(None));
        let in_result = cached(
            ResultMode::<Result<Option<()>, String>>::new(),
            &IN_RESULT,
            Some(cache.clone()),
            KeyParts::new(),
            cache_core::__private::ReadOptions::new(),
            async { Ok(Some(())) },
        );
        assert_eq!(in_result.await, Ok(Some(())));
        let none = cached(
            OptionMode::<Option<()>, true>::new(),
            &NONE,
            Some(cache.clone()),
            KeyParts::new(),
            cache_core::__private::ReadOptions::new(),
            async { None },
        );
        assert_eq!(none.await, None);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1, "the second call was a hit");
    let stats = cache.stats().prefix("nulls");
    assert_eq!((stats.hits, stats.misses), (6, 6), "{stats:?}");
    assert_eq!(stats.decode_errors, 0);
}

async fn hit_after_miss(cache: Cache) {
    let source = Source::default();
    source.put("acme", "v1");
    assert_eq!(read(&cache, &source, "acme").await, Ok("v1".into()));
    assert_eq!(read(&cache, &source, "acme").await, Ok("v1".into()));
    assert_eq!(source.loads(), 1, "the second read is a hit");
    let stats = cache.stats().prefix("fmpa");
    assert_eq!((stats.hits, stats.misses, stats.loads), (1, 1, 1));
    assert_eq!(stats.hit_rate(), 0.5);
}

async fn ttl_expiry(cache: Cache) {
    static SHORT: Site = Site::new("fmpa", "short", Duration::from_millis(300), 0);
    let source = Source::default();
    source.put("acme", "v1");
    read_at(&SHORT, &cache, &source, "acme").await.unwrap();
    read_at(&SHORT, &cache, &source, "acme").await.unwrap();
    assert_eq!(source.loads(), 1);
    // A real wait: the entry must outlive its TTL.
    tokio::time::sleep(Duration::from_millis(600)).await;
    read_at(&SHORT, &cache, &source, "acme").await.unwrap();
    assert_eq!(source.loads(), 2, "an expired entry is a miss");
}

async fn errors_are_never_cached(cache: Cache) {
    let calls = AtomicUsize::new(0);
    let failing = || {
        __private::cached(
            ResultMode::<Result<String, String>>::new(),
            &LIST,
            Some(cache.clone()),
            parts("acme", 1),
            __private::ReadOptions::new(),
            async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<String, _>("db down".to_owned())
            },
        )
    };
    assert_eq!(failing().await, Err("db down".into()));
    assert_eq!(failing().await, Err("db down".into()));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "an Err is never stored");
}

async fn find<const CACHE_NONE: bool>(
    site: &'static Site,
    cache: &Cache,
    calls: &AtomicUsize,
    found: Option<u32>,
) -> Option<u32> {
    let mut parts = KeyParts::new();
    parts.scope("u1");
    __private::cached(
        OptionMode::<Option<u32>, CACHE_NONE>::new(),
        site,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async {
            calls.fetch_add(1, Ordering::SeqCst);
            found
        },
    )
    .await
}

async fn option_policy(cache: Cache) {
    static POS: Site = Site::new("user", "positive", Duration::from_secs(60), 0);
    static NEG: Site = Site::new("user", "negative", Duration::from_secs(60), 0);
    let calls = AtomicUsize::new(0);
    assert_eq!(find::<false>(&POS, &cache, &calls, None).await, None);
    assert_eq!(find::<false>(&POS, &cache, &calls, None).await, None);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "None is not cached by default"
    );
    assert_eq!(find::<false>(&POS, &cache, &calls, Some(7)).await, Some(7));
    assert_eq!(
        find::<false>(&POS, &cache, &calls, Some(8)).await,
        Some(7),
        "Some is cached"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    assert_eq!(find::<true>(&NEG, &cache, &calls, None).await, None);
    assert_eq!(
        find::<true>(&NEG, &cache, &calls, Some(9)).await,
        None,
        "cache_none caches None"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

async fn invalidation_is_per_scope(cache: Cache) {
    let source = Source::default();
    source.put("acme", "a1");
    source.put("globex", "g1");
    read(&cache, &source, "acme").await.unwrap();
    read(&cache, &source, "globex").await.unwrap();
    read_at(&OTHER_LIST, &cache, &source, "acme").await.unwrap();
    assert_eq!(source.loads(), 3);

    source.put("acme", "a2");
    cache.invalidate("fmpa", "acme").await;
    assert_eq!(read(&cache, &source, "acme").await, Ok("a2".into()));
    assert_eq!(
        read_at(&OTHER_LIST, &cache, &source, "acme").await,
        Ok("a2".into()),
        "every function of the prefix is invalidated for that scope"
    );
    assert_eq!(read(&cache, &source, "globex").await, Ok("g1".into()));
    assert_eq!(source.loads(), 5, "globex stayed cached");
}

async fn invalidate_all_covers_every_scope(cache: Cache) {
    let source = Source::default();
    for tenant in ["a", "b", "c"] {
        source.put(tenant, "old");
        read(&cache, &source, tenant).await.unwrap();
    }
    for tenant in ["a", "b", "c"] {
        source.put(tenant, "new");
    }
    cache.invalidate_all("fmpa").await;
    for tenant in ["a", "b", "c"] {
        assert_eq!(read(&cache, &source, tenant).await, Ok("new".into()));
    }
    assert_eq!(source.loads(), 6);
    assert_eq!(cache.stats().prefix("fmpa").invalidations, 1);
}

/// A reader reads the generations, then loads slowly; meanwhile a writer changes the
/// source and invalidates. The reader's stale fill must never be served afterwards.
async fn slow_reader_across_invalidation(cache: Cache) {
    let source = Source::default();
    source.put("acme", "old");
    let (loading_tx, loading_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let slow = {
        let cache = cache.clone();
        let source = source.clone();
        tokio::spawn(async move {
            __private::cached(
                ResultMode::<Result<String, String>>::new(),
                &LIST,
                Some(cache),
                parts("acme", 1),
                __private::ReadOptions::new(),
                async move {
                    let value = source.read("acme");
                    loading_tx.send(()).unwrap();
                    release_rx.await.unwrap();
                    Ok(value)
                },
            )
            .await
        })
    };
    loading_rx.await.unwrap(); // the slow reader has read "old" from the source
    source.put("acme", "new");
    cache.invalidate("fmpa", "acme").await;
    release_tx.send(()).unwrap();
    assert_eq!(
        slow.await.unwrap(),
        Ok("old".into()),
        "the slow reader gets what it read"
    );
    // The slow reader's fill has landed (it stores before returning); it must be invisible.
    assert_eq!(read(&cache, &source, "acme").await, Ok("new".into()));
    assert_eq!(read(&cache, &source, "acme").await, Ok("new".into()));
    assert_eq!(
        source.loads(),
        2,
        "the fresh value is cached after the stale one"
    );
}

async fn single_flight(cache: Cache) {
    let loads = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let mut callers = Vec::new();
    for _ in 0..100 {
        let (cache, loads, release) = (cache.clone(), loads.clone(), release.clone());
        callers.push(tokio::spawn(async move {
            __private::cached(
                ResultMode::<Result<u64, String>>::new(),
                &LIST,
                Some(cache),
                parts("stampede", 1),
                __private::ReadOptions::new(),
                async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    Ok(42)
                },
            )
            .await
        }));
    }
    // Every caller counts its miss once it has joined the flight: wait for all 100, so
    // that none can arrive after the load is over and start a second one.
    while cache.stats().prefix("fmpa").misses < 100 {
        tokio::task::yield_now().await;
    }
    release.notify_waiters();
    release.notify_one();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), Ok(42));
    }
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "100 concurrent misses, one load"
    );
    assert_eq!(cache.stats().prefix("fmpa").coalesced, 99);
    assert_eq!(cache.loads_in_flight(), 0, "no flight is left behind");
}

/// A generation key that disappears (evicted, deleted by an operator) must not revive
/// entries filled under it: its replacement is a token never used before.
/// The keys of `read(cache, source, tenant)`, as user keys (the cache's namespace is
/// added by `delete` / `exists` / `set`).
fn keys_of(tenant: &str) -> cache_core::key::CallKeys {
    cache_core::key::call_keys("", "fmpa", "list", 0, &parts(tenant, 1))
}

async fn lost_generation_key(cache: Cache) {
    let source = Source::default();
    source.put("acme", "old");
    read(&cache, &source, "acme").await.unwrap();
    source.put("acme", "new");
    // The entry stays; its scope generation and the prefix generation go.
    let keys = keys_of("acme");
    assert!(
        cache.delete(keys.scope_generation()).await,
        "scope generation key exists"
    );
    assert!(
        cache.delete(keys.prefix_generation()).await,
        "prefix generation key exists"
    );
    assert!(
        cache.exists(keys.entry()).await,
        "the old entry is still there"
    );
    // Another function of the scope recreates both generations first...
    read_at(&OTHER_LIST, &cache, &source, "acme").await.unwrap();
    assert_eq!(source.loads(), 2);
    // ...and the old entry must not match them.
    assert_eq!(read(&cache, &source, "acme").await, Ok("new".into()));
    assert_eq!(read(&cache, &source, "acme").await, Ok("new".into()));
    assert_eq!(source.loads(), 3);
}

async fn corrupt_entry(cache: Cache) {
    let source = Source::default();
    source.put("acme", "v1");
    read(&cache, &source, "acme").await.unwrap();
    // Overwrite the entry with something that is not an envelope.
    cache
        .set(keys_of("acme").entry(), "garbage", Duration::from_secs(60))
        .await;
    assert_eq!(read(&cache, &source, "acme").await, Ok("v1".into()));
    assert_eq!(cache.stats().prefix("fmpa").decode_errors, 1);
    assert_eq!(read(&cache, &source, "acme").await, Ok("v1".into()));
    assert_eq!(source.loads(), 2, "the next fill repaired the entry");
}

async fn entry_of_another_type(cache: Cache) {
    let source = Source::default();
    source.put("acme", "v1");
    read(&cache, &source, "acme").await.unwrap();
    // The same key read as another type (a struct changed shape without `version`).
    let as_number = __private::cached(
        ResultMode::<Result<u64, String>>::new(),
        &LIST,
        Some(cache.clone()),
        parts("acme", 1),
        __private::ReadOptions::new(),
        async { Ok(7) },
    )
    .await;
    assert_eq!(as_number, Ok(7));
    assert_eq!(cache.stats().prefix("fmpa").decode_errors, 1);
}

async fn user_keys(cache: Cache) {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Profile {
        name: String,
    }
    let ttl = Duration::from_secs(60);
    let profile = Profile { name: "Ada".into() };
    assert_eq!(cache.get::<Profile>("user:1").await, None);
    assert!(!cache.exists("user:1").await);
    cache.set("user:1", &profile, ttl).await;
    assert!(cache.exists("user:1").await);
    assert_eq!(cache.get::<Profile>("user:1").await, Some(profile));
    assert!(
        cache.get::<u32>("user:1").await.is_none(),
        "another type reads as a miss"
    );
    assert!(
        cache.try_get::<u32>("user:1").await.is_err(),
        "try_get says why"
    );
    assert!(cache.delete("user:1").await);
    assert!(!cache.delete("user:1").await);
    for i in 0..5 {
        cache.set(&format!("fmpa:list:t{i}"), &i, ttl).await;
    }
    cache.set("formation:list:t1", &1, ttl).await;
    assert_eq!(cache.delete_pattern("fmpa:list:*").await, 5);
    assert!(
        cache.exists("formation:list:t1").await,
        "other patterns stay"
    );
    assert_eq!(cache.stats().prefix("user").hits, 1);
}

async fn get_or_set(cache: Cache) {
    let ttl = Duration::from_secs(60);
    let calls = AtomicUsize::new(0);
    let load = || async {
        calls.fetch_add(1, Ordering::SeqCst);
        vec![1, 2, 3]
    };
    assert_eq!(cache.get_or_set("stats:t1", ttl, load).await, vec![1, 2, 3]);
    assert_eq!(cache.get_or_set("stats:t1", ttl, load).await, vec![1, 2, 3]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        cache.get::<Vec<i32>>("stats:t1").await,
        Some(vec![1, 2, 3]),
        "plain JSON"
    );

    let failing = cache
        .get_or_try_set("stats:t2", ttl, || async { Err::<u8, _>("no") })
        .await;
    assert_eq!(failing, Err("no"));
    assert!(!cache.exists("stats:t2").await, "errors are not stored");
}

#[tokio::test]
async fn no_cache_means_the_function_runs() {
    let out = __private::cached(
        ResultMode::<Result<u8, ()>>::new(),
        &LIST,
        None,
        parts("x", 1),
        cache_core::__private::ReadOptions::new(),
        async { Ok(5) },
    )
    .await;
    assert_eq!(out, Ok(5));
}

/// Entries record their codec: after switching codecs, old entries are still hits, and
/// a process on the other codec reads the new ones.
#[cfg(feature = "msgpack")]
#[tokio::test]
async fn codecs_read_each_others_entries() {
    let json = testkit::redis_cache("codecs").await;
    let packed = testkit::test_builder(&testkit::redis_url(), json.namespace())
        .codec(cache_core::Codec::MessagePack)
        .build()
        .await
        .unwrap();
    let source = Source::default();
    source.put("acme", "v1");
    read(&json, &source, "acme").await.unwrap();
    assert_eq!(read(&packed, &source, "acme").await, Ok("v1".into()));
    assert_eq!(
        source.loads(),
        1,
        "a JSON entry is a hit for a MessagePack cache"
    );
    source.put("acme", "v2");
    packed.invalidate("fmpa", "acme").await;
    assert_eq!(read(&packed, &source, "acme").await, Ok("v2".into()));
    assert_eq!(read(&json, &source, "acme").await, Ok("v2".into()));
    assert_eq!(
        source.loads(),
        2,
        "a MessagePack entry is a hit for a JSON cache"
    );
    assert_eq!(
        json.stats().prefix("fmpa").decode_errors + packed.stats().prefix("fmpa").decode_errors,
        0
    );
}
