//! What an operator sees, on the Redis this run targets: a prefix's entries read back as
//! calls with their state (current, or dead once invalidated), filtered by scope and by
//! tag, and one entry's value (a sealed one opened only with the keys).

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::inspect::{EntryFilter, EntryState};
use cache_core::{Cache, EncryptionKeys};
use std::time::Duration;
use testkit::{ScopedCache, Target};

static LIST: Site = Site::new("fmpa", "list", Duration::from_secs(60), 0);
static ITEM: Site = Site::new("fmpa", "item", Duration::from_secs(60), 0);
static SESSION: Site = Site::new("session", "get", Duration::from_secs(60), 0).sensitive();

/// Reads through `site` with `parts`, the value `value`.
async fn fill(cache: &Cache, site: &'static Site, parts: KeyParts, value: serde_json::Value) {
    __private::cached(
        ResultMode::<Result<serde_json::Value, String>>::new(),
        site,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async { Ok(value) },
    )
    .await
    .expect("the read");
}

fn list(tenant: &str, page: u32) -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope(tenant).arg(&page);
    parts
}

fn item(tenant: &str, id: u32) -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope(tenant).arg(&id).tag("item", &id);
    parts
}

async fn cache(scoped: &ScopedCache) -> Cache {
    Target::from_env()
        .builder(scoped.namespace())
        .build()
        .await
        .expect("cache")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_read_back_as_calls_current_then_dead() {
    let scoped = testkit::redis_cache("inspect_entries").await;
    let cache = cache(&scoped).await;
    fill(
        &cache,
        &LIST,
        list("tenant-1", 1),
        serde_json::json!({"page": 1}),
    )
    .await;
    fill(
        &cache,
        &LIST,
        list("tenant-1", 2),
        serde_json::json!({"page": 2}),
    )
    .await;
    fill(
        &cache,
        &LIST,
        list("tenant-2", 1),
        serde_json::json!({"page": 1}),
    )
    .await;
    let all = cache
        .entries("fmpa", &EntryFilter::new())
        .await
        .expect("entries");
    assert_eq!(all.len(), 3, "{all:#?}");
    let mine = cache
        .entries("fmpa", &EntryFilter::new().scope("tenant-1"))
        .await
        .expect("entries");
    assert_eq!(mine.len(), 2, "{mine:#?}");
    for entry in &mine {
        assert_eq!(entry.state, EntryState::Current);
        let scope = entry.call.scope.as_ref().and_then(|s| s.decoded());
        assert_eq!(scope.as_deref(), Some("tenant-1"));
        assert!(entry.ttl_ms.is_some_and(|ttl| ttl > 50_000), "{entry:?}");
        assert!(entry.size > 0);
    }
    let one = cache
        .entry(&mine[1].key)
        .await
        .expect("entry")
        .expect("the entry is there");
    assert_eq!(one.value, Some(serde_json::json!({"page": 2})));
    cache.invalidate("fmpa", "tenant-1").await;
    let after = cache
        .entries("fmpa", &EntryFilter::new())
        .await
        .expect("entries");
    let mut states: Vec<_> = after
        .iter()
        .map(|entry| {
            let scope = entry.call.scope.as_ref().and_then(|s| s.decoded());
            (scope.unwrap_or_default(), entry.state)
        })
        .collect();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        states,
        [
            ("tenant-1".to_owned(), EntryState::Dead),
            ("tenant-1".to_owned(), EntryState::Dead),
            ("tenant-2".to_owned(), EntryState::Current),
        ]
    );
    // Not an entry: nothing.
    assert!(cache.entry("elsewhere:key").await.expect("entry").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_filter_finds_the_entries_that_depend_on_it() {
    let scoped = testkit::redis_cache("inspect_tags").await;
    let cache = cache(&scoped).await;
    for id in [1, 2, 3] {
        fill(&cache, &ITEM, item("tenant-1", id), serde_json::json!(id)).await;
    }
    let two = cache
        .entries("fmpa", &EntryFilter::new().tag("item", "2"))
        .await
        .expect("entries");
    assert_eq!(two.len(), 1, "{two:#?}");
    assert_eq!(
        cache.entry(&two[0].key).await.unwrap().unwrap().value,
        Some(serde_json::json!(2))
    );
    cache
        .try_invalidate_tag("fmpa", Some("tenant-1"), "item", &2)
        .await
        .expect("invalidated");
    let after = cache
        .entries("fmpa", &EntryFilter::new())
        .await
        .expect("entries");
    let dead: Vec<_> = after
        .iter()
        .filter(|entry| entry.state == EntryState::Dead)
        .map(|entry| entry.key.clone())
        .collect();
    assert_eq!(dead, [two[0].key.clone()], "{after:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_entry_opens_only_with_the_keys() {
    let scoped = testkit::redis_cache("inspect_sealed").await;
    let with_keys = || {
        Target::from_env()
            .builder(scoped.namespace())
            .sensitive_prefix("session")
            .encryption_keys(EncryptionKeys::new().with_key("k1", [7; 32]))
    };
    let cache = with_keys().build().await.expect("cache");
    let mut parts = KeyParts::new();
    parts.scope("tenant-1").arg(&"token");
    fill(&cache, &SESSION, parts, serde_json::json!({"user": 1})).await;
    let found = cache
        .entries("session", &EntryFilter::new().scope("tenant-1"))
        .await
        .expect("entries");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].sealed && found[0].call.scope.as_ref().unwrap().is_hashed());
    let opened = cache.entry(&found[0].key).await.unwrap().unwrap();
    assert_eq!(opened.value, Some(serde_json::json!({"user": 1})));
    let keyless = Target::from_env()
        .builder(scoped.namespace())
        .build()
        .await
        .expect("cache");
    let shut = keyless.entry(&found[0].key).await.unwrap().unwrap();
    assert_eq!(shut.value, None);
    assert!(
        shut.note
            .as_deref()
            .is_some_and(|note| note.starts_with("sealed"))
    );
    // Without the naming key, a scope cannot be found by its value: none is, when the
    // prefix is not declared sensitive; an error says why when it is.
    let by_value = keyless
        .entries("session", &EntryFilter::new().scope("tenant-1"))
        .await
        .expect("entries");
    assert!(by_value.is_empty(), "{by_value:#?}");
    let declared = Target::from_env()
        .builder(scoped.namespace())
        .sensitive_prefix("session")
        .build()
        .await
        .expect("cache");
    let refused = declared
        .entries("session", &EntryFilter::new().scope("tenant-1"))
        .await;
    assert!(refused.is_err(), "{refused:#?}");
}
