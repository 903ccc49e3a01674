//! A database outage, on PostgreSQL behind a fault proxy: the app's cached list and
//! profile routes (fail-safe) answer from entries past their TTL while the database is
//! unreachable, where an entry without a fail-safe value answers 5xx; writes fail
//! honestly; once the database is back (and the fail-safe throttle over), a reload brings
//! what changed in the database meanwhile.
//!
//! Entries are aged, not waited for: their remaining time is cut in Redis to what it is
//! 10 minutes past a 5-minute TTL, within the hour of fail-safe.

mod common;

use common::Api;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};
use testkit::{Fault, Proxy};

/// Routes whose sites keep a fail-safe value (lists and profiles), for `user`.
fn routes(user: &common::User) -> Vec<String> {
    // Each first failure waits for the pool (3 s): three routes, not all eight.
    let mut routes: Vec<String> = ["/api/fmpa", "/api/formations"].map(str::to_owned).to_vec();
    routes.push(format!("/api/users/{}/profile", user.id));
    routes
}

/// The PostgreSQL server of `url` (`postgres://user@host:port/db?...`): its address, and
/// the URL of database `name` reached through `via` instead.
fn through(url: &str, via: std::net::SocketAddr, name: &str) -> (std::net::SocketAddr, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, rest) = match rest.split_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    let host_port = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let server = host_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("a host:port");
    (server, format!("{scheme}://{user}{via}/{name}{query}"))
}

/// Cuts the remaining time of every fail-safe entry of `namespace` (kept past its TTL:
/// more than the hour of grace left) whose key contains `only`, to 10 minutes past its TTL
/// (`delete`: removes them, as a cache without fail-safe has nothing then). How many.
/// (A profile's key names its tenant hashed: `only` = "" reaches it.)
async fn age(namespace: &str, only: &str, delete: bool) -> usize {
    let client = redis::Client::open(testkit::redis_url()).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    let mut aged = 0;
    for key in keys.iter().filter(|key| key.contains(only)) {
        let left: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        // A fail-safe entry: its TTL (≤ 1 h here) plus the hour of grace.
        if !(3_601_000..7_200_000).contains(&left) {
            continue;
        }
        let mut cmd = match delete {
            true => redis::cmd("DEL"),
            false => redis::cmd("PEXPIRE"),
        };
        cmd.arg(key);
        if !delete {
            cmd.arg(3_600_000 - 600_000);
        }
        let _: i64 = cmd.query_async(&mut conn).await.expect("age");
        aged += 1;
    }
    aged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_answered_by_fail_safe_values() {
    common::on_own_postgres("fmpa_outage", outage).await;
}

async fn outage(admin_url: String, direct: String, name: String) {
    let (server, _) = through(&admin_url, "127.0.0.1:1".parse().unwrap(), &name);
    let proxy = Proxy::start(server).await;
    let (_, url) = through(&admin_url, proxy.addr(), &name);
    let throttle = Duration::from_secs(1);
    let scoped = testkit::redis_cache_with("outage", |builder| {
        common::sealed(builder).fail_safe_throttle(throttle)
    })
    .await;
    let running = fmpa_app::start(&common::config(&url), scoped.cache.clone())
        .await
        .expect("the app starts");
    let api = Api::new(running.addr);
    let (kept, lost) = (
        api.user(common::MEMBER_1).await,
        api.user(common::MEMBER_2).await,
    );
    let mut before = Vec::new();
    for user in [&kept, &lost] {
        for route in routes(user) {
            let (status, body) = api.call(Method::GET, Some(&user.token), &route, None).await;
            assert_eq!(status, StatusCode::OK, "{route}: {body}");
            before.push(body);
        }
    }
    // Past their TTL: tenant-1's entries kept for fail-safe, tenant-2's gone (a cache
    // without fail-safe).
    let namespace = scoped.cache.namespace().to_owned();
    let lists = routes(&lost).len() - 1; // its profile's key is hashed: kept
    assert!(age(&namespace, &format!(":{}:", lost.tenant), true).await >= lists);
    assert!(age(&namespace, "", false).await > routes(&kept).len());

    // The database goes away: connections reset, new ones refused.
    proxy.set(Fault::Reset);
    // Meanwhile a change lands in the database (another service, a migration).
    let db = fmpa_app::db::Db::connect(&direct).await.expect("direct");
    let change = format!(
        "UPDATE fmpa SET title = 'changed during the outage' WHERE tenant_id = '{}'",
        kept.tenant
    );
    sqlx::query(&change)
        .execute(&db.pool)
        .await
        .expect("a direct update");
    let started = Instant::now();
    let mut statuses = Vec::new();
    for (i, route) in routes(&kept).iter().enumerate() {
        let (status, body) = api.call(Method::GET, Some(&kept.token), route, None).await;
        assert_eq!(status, StatusCode::OK, "{route} during the outage: {body}");
        assert_eq!(body, before[i], "{route}: the value kept past its TTL");
        statuses.push(status);
    }
    for route in routes(&lost)
        .iter()
        .filter(|route| !route.ends_with("/profile"))
    {
        let (status, _) = api.call(Method::GET, Some(&lost.token), route, None).await;
        assert!(
            status.is_server_error(),
            "{route} without a kept value: {status}"
        );
    }
    let fmpa = serde_json::json!({"title": "t", "status": "ACTIVE", "location": "l", "starts_at": 1_770_000_000, "seats": 1});
    let (status, _) = api
        .call(Method::POST, Some(&kept.token), "/api/fmpa", Some(fmpa))
        .await;
    assert!(
        status.is_server_error(),
        "a write during the outage fails: {status}"
    );
    eprintln!(
        "outage: {} routes answered from fail-safe values in {:?}",
        statuses.len(),
        started.elapsed()
    );
    assert!(scoped.cache.stats().total.stale_served >= statuses.len() as u64);

    // Back: after the throttle, a read reloads and sees the change.
    proxy.set(Fault::Pass);
    tokio::time::sleep(throttle).await; // the throttle's own time
    let (status, body) = api
        .call(Method::GET, Some(&kept.token), "/api/fmpa", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let titles: Vec<&Value> = body["items"]
        .as_array()
        .map(|items| items.iter().map(|item| &item["title"]).collect())
        .unwrap_or_default();
    assert!(
        !titles.is_empty()
            && titles
                .iter()
                .all(|title| *title == "changed during the outage"),
        "fresh after the outage: {body}"
    );
    running.server.abort();
    db.pool.close().await;
}
