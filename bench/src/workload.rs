//! What the benchmarks call: the payloads, our `#[cached]` functions, the hand-written
//! cache-aside of the seed, and the `cached` crate's Redis attribute on the same work.

use cache_core::cached;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use std::time::Duration;

/// A row of about 200 bytes of JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: u64,
    pub tenant_id: String,
    pub title: String,
    pub status: String,
    pub location: String,
    pub starts_at: i64,
    pub seats: i64,
    pub tags: Vec<String>,
}

/// A page of rows: about 8 KB of JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<Row>,
    pub total: u64,
    pub page: u32,
}

pub fn row(id: u64) -> Row {
    Row {
        id,
        tenant_id: "tenant-1".into(),
        title: format!("FMPA session {id}: exercice incendie"),
        status: "ACTIVE".into(),
        location: "Caserne centrale, salle de formation 2".into(),
        starts_at: 1_770_000_000 + id as i64,
        seats: 12,
        tags: vec!["incendie".into(), "secours".into()],
    }
}

pub fn page() -> Page {
    Page {
        items: (0..36).map(row).collect(),
        total: 36,
        page: 1,
    }
}

/// The size of the JSON of a value.
pub fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0)
}

/// The error type of the benchmarked functions.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchError(pub String);

// ----- ours ------------------------------------------------------------------------------

#[cached(prefix = "bench", ttl = "10m", key = tenant)]
pub async fn ours_small(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "bench", ttl = "10m", key = tenant)]
pub async fn ours_list(tenant: &str) -> Result<Page, BenchError> {
    let _ = tenant;
    Ok(page())
}

/// The cache of the MessagePack variants (the same Redis, `Codec::MessagePack`).
pub static PACKED: OnceLock<cache_core::Cache> = OnceLock::new();

#[cached(prefix = "bench", name = "small_mp", ttl = "10m", key = tenant, cache = PACKED.get())]
pub async fn ours_small_msgpack(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "bench", name = "list_mp", ttl = "10m", key = tenant, cache = PACKED.get())]
pub async fn ours_list_msgpack(tenant: &str) -> Result<Page, BenchError> {
    let _ = tenant;
    Ok(page())
}

/// The cache of the cluster rows.
pub static CLUSTER: OnceLock<cache_core::Cache> = OnceLock::new();

#[cached(prefix = "bench", name = "small_cl", ttl = "10m", key = tenant, cache = CLUSTER.get())]
pub async fn ours_small_cluster(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

/// A miss every call: `n` is new each time. The loader is trivial.
#[cached(prefix = "bench", ttl = "1m", key = tenant, n)]
pub async fn ours_miss(tenant: &str, n: u64) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(n))
}

// ----- baseline A: the seed's hand-written cache-aside --------------------------------

/// `GET` + `serde_json::from_slice`, as the seed's `getCachedFMPAList` does.
pub async fn hand_get<T, C>(conn: &C, key: &str) -> Option<T>
where
    T: serde::de::DeserializeOwned,
    C: redis::aio::ConnectionLike + Clone,
{
    let mut conn = conn.clone();
    let raw: Option<Vec<u8>> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .ok()?;
    serde_json::from_slice(&raw?).ok()
}

/// The floor: a raw `GET` of the same bytes, not decoded.
pub async fn raw_get(conn: &ConnectionManager, key: &str) -> Option<Vec<u8>> {
    let mut conn = conn.clone();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .ok()?
}

/// The floor of our design: a raw `MGET` of the three keys a hit reads, not decoded.
pub async fn raw_mget(
    conn: &ConnectionManager,
    keys: &[String; 3],
) -> Option<Vec<Option<Vec<u8>>>> {
    let mut conn = conn.clone();
    redis::cmd("MGET")
        .arg(&keys[..])
        .query_async(&mut conn)
        .await
        .ok()
}

/// The seed's miss: `GET`, load, `SET EX`.
pub async fn hand_miss(conn: &ConnectionManager, key: &str, n: u64) -> Row {
    if let Some(row) = hand_get::<Row, _>(conn, key).await {
        return row;
    }
    let value = row(n);
    if let Ok(json) = serde_json::to_vec(&value) {
        let mut conn = conn.clone();
        let _: Result<(), _> = redis::cmd("SET")
            .arg(key)
            .arg(json)
            .arg("EX")
            .arg(60)
            .query_async(&mut conn)
            .await;
    }
    value
}

// ----- the peer: the `cached` crate ------------------------------------------------------

/// The Redis URL every variant uses.
pub fn redis_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    })
}

/// The peer's cache: the `cached` crate's `AsyncRedisCache` on its connection manager.
pub async fn peer_cache<V>(prefix: &str, ttl: Duration) -> cached::AsyncRedisCache<String, V>
where
    V: Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    cached::AsyncRedisCache::builder(prefix)
        .ttl(ttl)
        .connection_string(redis_url())
        .connection_manager(true)
        .build()
        .await
        .expect("the cached crate's Redis cache")
}

#[cached::macros::concurrent_cached(
    map_error = r##"|e| BenchError(format!("{e:?}"))"##,
    ty = "cached::AsyncRedisCache<String, Row>",
    create = r##"{ peer_cache("bench_peer_small", Duration::from_secs(600)).await }"##
)]
pub async fn peer_small(tenant: String) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached::macros::concurrent_cached(
    map_error = r##"|e| BenchError(format!("{e:?}"))"##,
    ty = "cached::AsyncRedisCache<String, Page>",
    create = r##"{ peer_cache("bench_peer_list", Duration::from_secs(600)).await }"##
)]
pub async fn peer_list(tenant: String) -> Result<Page, BenchError> {
    let _ = tenant;
    Ok(page())
}

#[cached::macros::concurrent_cached(
    map_error = r##"|e| BenchError(format!("{e:?}"))"##,
    ty = "cached::AsyncRedisCache<String, Row>",
    create = r##"{ peer_cache("bench_peer_miss", Duration::from_secs(60)).await }"##
)]
pub async fn peer_miss(key: String) -> Result<Row, BenchError> {
    Ok(row(key.len() as u64))
}

/// The keys of `<name>("t1")`, a function of prefix `bench`, in namespace `ns`.
pub fn our_keys(ns: &str, name: &str) -> cache_core::key::CallKeys {
    let mut parts = cache_core::key::KeyParts::new();
    parts.scope("t1");
    cache_core::key::call_keys(ns, "bench", name, 0, &parts)
}

/// Stores the small and list values as the seed would (plain JSON under `bench-raw:small`
/// and `bench-raw:list`, 10 minutes); returns their JSON sizes.
pub async fn put_raw_values(conn: &ConnectionManager) -> (usize, usize) {
    let small_json = serde_json::to_vec(&row(1)).expect("json");
    let list_json = serde_json::to_vec(&page()).expect("json");
    set_raw(conn, "bench-raw:small", &small_json).await;
    set_raw(conn, "bench-raw:list", &list_json).await;
    (small_json.len(), list_json.len())
}

/// Stores `json` under `key` as the seed would (10 minutes).
pub async fn set_raw(conn: &ConnectionManager, key: &str, json: &[u8]) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(json)
        .arg("EX")
        .arg(600)
        .query_async(&mut conn.clone())
        .await
        .expect("SET");
}
