//! Sensitive data at rest, on the Redis this run targets (one server, the private
//! cluster, TLS) and on the memory store: values sealed, key arguments hashed, entries
//! moved between tenants or tampered with are misses, rotation, and no key → not cached.

use cache_core::__private::{self, KeyParts, ResultMode, Site, raw};
use cache_core::{Cache, CacheBuilder, EncryptionKeys};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use testkit::{ScopedCache, Target};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Session {
    email: String,
    name: String,
    role: String,
}

static SESSION: Site = Site::new("session", "get", Duration::from_secs(3600), 0).sensitive();
/// A site that says it is sensitive, on a prefix no cache declares.
static UNDECLARED: Site = Site::new("undeclared", "get", Duration::from_secs(3600), 0).sensitive();

const EMAIL: &str = "alice@example.com";
const TOKEN: &str = "tok-5ecret-0123";

fn keys(ids: &[(&str, u8)]) -> EncryptionKeys {
    ids.iter().fold(EncryptionKeys::new(), |keys, (id, byte)| {
        keys.with_key(*id, [*byte; 32])
    })
}

fn session(tenant: &str) -> Session {
    Session {
        email: format!("{tenant}-{EMAIL}"),
        name: "Alice Confidential".into(),
        role: "admin-of-secrets".into(),
    }
}

/// Reads `tenant`'s session (key `tenant`, argument the token) through `site`; whether it
/// loaded.
async fn read(cache: &Cache, site: &'static Site, tenant: &str) -> (Session, bool) {
    read_token(cache, site, tenant, TOKEN).await
}

/// [`read`] with another token (another user of the tenant).
async fn read_token(
    cache: &Cache,
    site: &'static Site,
    tenant: &str,
    token: &str,
) -> (Session, bool) {
    let loads = AtomicUsize::new(0);
    let mut parts = KeyParts::new();
    parts.scope(tenant).arg(&token);
    let value = __private::cached(
        ResultMode::<Result<Session, String>>::new(),
        site,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(session(tenant))
        },
    )
    .await
    .expect("the read");
    (value, loads.load(Ordering::SeqCst) == 1)
}

/// The one entry of `tenant`'s session among the raw keys (the key that is not a
/// generation: it has a name segment).
async fn entry_key(cache: &Cache) -> Vec<String> {
    raw::keys(cache, "*")
        .await
        .into_iter()
        .filter(|key| key.contains(":get:"))
        .collect()
}

/// Every key of the namespace but the fleet's manifests and published statistics.
async fn entries(cache: &Cache) -> Vec<String> {
    raw::keys(cache, "*")
        .await
        .into_iter()
        .filter(|key| !key.ends_with(":!fleet") && !key.ends_with(":!stats"))
        .collect()
}

/// Where the tests run: Redis (this run's target), or memory.
enum Backend {
    Redis,
    Memory,
}

/// A cache on `backend` in `namespace` with `keys`, `session` declared sensitive.
async fn cache(backend: &Backend, namespace: &str, keys: EncryptionKeys) -> Cache {
    let builder: CacheBuilder = match backend {
        Backend::Redis => Target::from_env().builder(namespace),
        Backend::Memory => Cache::builder().memory().namespace(namespace),
    };
    builder
        .encryption_keys(keys)
        .sensitive_prefix("session")
        .build()
        .await
        .expect("cache")
}

macro_rules! on_redis_and_memory {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let scoped = testkit::redis_cache(stringify!($name)).await;
                super::$name(super::Backend::Redis, scoped).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                let scoped = testkit::redis_cache(stringify!($name)).await;
                super::$name(super::Backend::Memory, scoped).await;
            }
        })*
    };
}

on_redis_and_memory!(
    nothing_readable_at_rest,
    entries_moved_or_tampered_with_are_misses,
    an_old_body_under_current_generations_is_a_miss,
    rotation_keeps_entries_until_their_key_is_retired,
    without_keys_nothing_is_cached,
);

async fn nothing_readable_at_rest(backend: Backend, scoped: ScopedCache) {
    let cache = cache(&backend, scoped.namespace(), keys(&[("k1", 1)])).await;
    assert!(read(&cache, &SESSION, "acme").await.1, "a miss first");
    assert_eq!(
        read(&cache, &SESSION, "acme").await,
        (session("acme"), false)
    );
    let all = raw::keys(&cache, "*").await;
    assert!(!all.is_empty());
    for key in &all {
        assert!(
            !key.contains("acme") && !key.contains("tok-") && !key.contains("5ecret"),
            "a key name shows an argument: {key}"
        );
        let bytes = raw::get(&cache, key).await.unwrap_or_default();
        for plain in [EMAIL, "Alice", "Confidential", "admin-of-secrets", "acme"] {
            assert!(
                !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
                "{key} holds {plain:?} in clear"
            );
        }
    }
    // The invalidation of the tenant names the same hashed keys.
    cache.invalidate("session", "acme").await;
    assert!(read(&cache, &SESSION, "acme").await.1, "invalidated");
}

async fn entries_moved_or_tampered_with_are_misses(backend: Backend, scoped: ScopedCache) {
    let cache = cache(&backend, scoped.namespace(), keys(&[("k1", 1)])).await;
    let new_entry = |before: Vec<String>| {
        let cache = cache.clone();
        async move {
            let after = entry_key(&cache).await;
            after
                .into_iter()
                .find(|key| !before.contains(key))
                .expect("a new entry")
        }
    };
    read(&cache, &SESSION, "acme").await;
    let acme = new_entry(Vec::new()).await;
    read(&cache, &SESSION, "globex").await;
    let globex = new_entry(vec![acme.clone()]).await;
    read_token(&cache, &SESSION, "acme", "tok-other-user").await;
    let other_user = new_entry(vec![acme.clone(), globex.clone()]).await;
    let decode_errors = || cache.stats().prefix("session").decode_errors;
    // Another tenant's entry copied under acme's key: a miss (its generations differ).
    let copied = raw::get(&cache, &globex).await.expect("globex's entry");
    raw::set(&cache, &acme, copied).await;
    assert_eq!(
        read(&cache, &SESSION, "acme").await,
        (session("acme"), true)
    );
    assert!(
        !read(&cache, &SESSION, "acme").await.1,
        "repaired by the fill"
    );
    // Another user's entry of the same tenant (same generations) under acme's key: it
    // does not open there (the key is its associated data), a counted miss.
    let before = decode_errors();
    let copied = raw::get(&cache, &other_user)
        .await
        .expect("the other user's entry");
    raw::set(&cache, &acme, copied).await;
    assert_eq!(
        read(&cache, &SESSION, "acme").await,
        (session("acme"), true)
    );
    assert_eq!(decode_errors(), before + 1);
    assert!(
        !read(&cache, &SESSION, "acme").await.1,
        "repaired by the fill"
    );
    // One flipped byte (the last, in the tag), then a truncated entry.
    let mut flipped = raw::get(&cache, &acme).await.expect("acme's entry");
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let truncated = flipped[..flipped.len() - 20].to_vec();
    for bad in [flipped, truncated] {
        raw::set(&cache, &acme, bad).await;
        assert_eq!(
            read(&cache, &SESSION, "acme").await,
            (session("acme"), true)
        );
        assert!(!read(&cache, &SESSION, "acme").await.1);
    }
    assert_eq!(decode_errors(), before + 3);
}

/// Reads `tenant`'s session through [`SESSION`], loading `value` on a miss; whether it
/// loaded.
async fn read_value(cache: &Cache, tenant: &str, value: &str) -> (String, bool) {
    let loads = AtomicUsize::new(0);
    let mut parts = KeyParts::new();
    parts.scope(tenant).arg(&TOKEN);
    let got = __private::cached(
        ResultMode::<Result<String, String>>::new(),
        &SESSION,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(value.to_owned())
        },
    )
    .await
    .expect("the read");
    (got, loads.load(Ordering::SeqCst) == 1)
}

/// Whoever can write to Redis but holds no key splices the sealed body of a value an
/// invalidation removed (a revoked session) under the header of the current entry (its
/// generations): the associated data binds the generations, so it does not open, a
/// counted miss, repaired by the fill.
async fn an_old_body_under_current_generations_is_a_miss(backend: Backend, scoped: ScopedCache) {
    let cache = cache(&backend, scoped.namespace(), keys(&[("k1", 1)])).await;
    assert!(read_value(&cache, "acme", "revoked").await.1);
    let entry = entry_key(&cache).await.remove(0);
    let old = raw::get(&cache, &entry).await.expect("the old entry");
    cache.invalidate("session", "acme").await;
    assert_eq!(
        read_value(&cache, "acme", "current").await,
        ("current".to_owned(), true)
    );
    let current = raw::get(&cache, &entry).await.expect("the current entry");
    let body = |bytes: &[u8]| {
        let payload = cache_core::entry::decode(bytes)
            .expect("an envelope")
            .payload;
        bytes.len() - payload.len()
    };
    let mut spliced = current[..body(&current)].to_vec();
    spliced.extend_from_slice(&old[body(&old)..]);
    raw::set(&cache, &entry, spliced).await;
    let decode_errors = cache.stats().prefix("session").decode_errors;
    assert_eq!(
        read_value(&cache, "acme", "reloaded").await,
        ("reloaded".to_owned(), true),
        "the old body was served under the current generations"
    );
    assert_eq!(
        cache.stats().prefix("session").decode_errors,
        decode_errors + 1
    );
    assert_eq!(
        read_value(&cache, "acme", "unused").await,
        ("reloaded".to_owned(), false),
        "repaired by the fill"
    );
}

async fn rotation_keeps_entries_until_their_key_is_retired(backend: Backend, scoped: ScopedCache) {
    let namespace = scoped.namespace();
    let old = cache(&backend, namespace, keys(&[("k1", 1)])).await;
    read(&old, &SESSION, "acme").await;
    let rotated = match backend {
        // Memory is per cache: rotation is a new configuration of the same one.
        Backend::Memory => return memory_rotation(old).await,
        Backend::Redis => cache(&backend, namespace, keys(&[("k2", 2), ("k1", 1)])).await,
    };
    assert!(
        !read(&rotated, &SESSION, "acme").await.1,
        "sealed with k1, read with k2 first"
    );
    assert!(read(&rotated, &SESSION, "globex").await.1);
    assert!(
        !read(&old, &SESSION, "acme").await.1,
        "the old configuration reads on"
    );
    // k1 retired as README says: kept as the naming key, it opens nothing.
    let retired = cache(
        &backend,
        namespace,
        keys(&[("k2", 2)]).with_naming_key("k1", [1; 32]),
    )
    .await;
    assert!(
        read(&retired, &SESSION, "acme").await.1,
        "k1 retired: a miss"
    );
    assert!(
        !read(&retired, &SESSION, "acme").await.1,
        "sealed with k2 now"
    );
    assert!(
        !read(&rotated, &SESSION, "acme").await.1,
        "the same names: the rotated cache reads it too"
    );
}

/// Rotation on memory, where a second cache does not share the first's store: the keys
/// are what changes, so the same store is checked through raw copies.
async fn memory_rotation(old: Cache) {
    let entry = entry_key(&old).await.remove(0);
    let sealed = raw::get(&old, &entry).await.expect("entry");
    assert!(
        sealed
            .windows(3)
            .any(|w| w == b"Tk1".as_slice() || w == b"\x02k1")
    );
}

async fn without_keys_nothing_is_cached(backend: Backend, scoped: ScopedCache) {
    let cache = cache(&backend, scoped.namespace(), EncryptionKeys::new()).await;
    for _ in 0..3 {
        assert_eq!(
            read(&cache, &SESSION, "acme").await,
            (session("acme"), true)
        );
    }
    assert_eq!(cache.stats().prefix("session").bypasses, 3);
    assert!(entries(&cache).await.is_empty(), "nothing stored");
    // Keys, but a site that says it is sensitive on a prefix the cache does not declare.
    let keyed = match backend {
        Backend::Redis => cache_with_keys_only(scoped.namespace()).await,
        Backend::Memory => Cache::builder()
            .memory()
            .encryption_keys(keys(&[("k1", 1)]))
            .build()
            .await
            .expect("cache"),
    };
    for _ in 0..2 {
        assert!(read(&keyed, &UNDECLARED, "acme").await.1);
    }
    assert!(entries(&keyed).await.is_empty(), "nothing stored");
    // A write of a sensitive prefix in a cache without keys invalidates the whole prefix.
    cache.invalidate("session", "acme").await;
}

async fn cache_with_keys_only(namespace: &str) -> Cache {
    Target::from_env()
        .builder(namespace)
        .encryption_keys(keys(&[("k1", 1)]))
        .build()
        .await
        .expect("cache")
}

/// Dependencies from the result on a sensitive prefix: the values are hashed in the
/// index's key names, as the invalidation hashes them.
mod from_the_result {
    use super::{Backend, cache, keys};
    use cache_core::__private::raw;
    use cache_core::{Cache, cached, invalidates};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[cached(prefix = "session", ttl = "1h", sensitive = true, key = tenant, tag(member = |ids: &Vec<u32>| ids.clone()), cache = cache)]
    async fn members(cache: &Cache, loads: &AtomicUsize, tenant: &str) -> Vec<u32> {
        loads.fetch_add(1, Ordering::SeqCst);
        vec![424_242, 7]
    }

    #[invalidates("session", key = tenant, tag(member = id), cache = cache)]
    async fn touch(cache: &Cache, tenant: &str, id: u32) -> Result<(), String> {
        Ok(())
    }

    async fn run(backend: Backend) {
        let scoped = testkit::redis_cache("sensitive_from_result").await;
        let cache = cache(&backend, scoped.namespace(), keys(&[("k1", 1)])).await;
        let loads = AtomicUsize::new(0);
        members(&cache, &loads, "acme").await;
        members(&cache, &loads, "acme").await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        for key in raw::keys(&cache, "*").await {
            assert!(!key.contains("424242") && !key.contains("acme"), "{key}");
        }
        touch(&cache, "acme", 424_242).await.unwrap();
        members(&cache, &loads, "acme").await;
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "the member's invalidation reached it"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis() {
        run(Backend::Redis).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        run(Backend::Memory).await;
    }
}
