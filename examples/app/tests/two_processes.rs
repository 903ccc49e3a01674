//! Two instances of the app (two caches, as two processes would have) on one database
//! and one Redis: random writes through one, by either of two tenants (on either
//! tenant's ids), and every affected route read through the other, by both tenants,
//! equals the database's answer (a third instance with cached reads off).
//! `TWO_APPS_STEPS` (default 150) and `TWO_APPS_SEED` (default: from the clock) set the
//! run; the seed is printed, and every failure names it.

mod common;

use common::Api;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An instance, called as one user of each of two tenants (a session opened through any
/// instance is valid in every one: they share the database and the token secret).
struct Instance {
    api: Api,
    tokens: Vec<String>,
}

impl Instance {
    async fn start(database_url: &str, cache: cache_core::Cache, users: [u32; 2]) -> Instance {
        let running = fmpa_app::start(&common::config(database_url), cache)
            .await
            .expect("the app starts");
        let api = Api::new(running.addr);
        let mut tokens = Vec::new();
        for user in users {
            tokens.push(api.user(user).await.token);
        }
        Instance { api, tokens }
    }

    /// `method path` as the user of tenant `who` (0 or 1).
    async fn call(
        &self,
        who: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.api
            .call(method, Some(&self.tokens[who]), path, body)
            .await
    }
}

const STATUSES: [&str; 3] = ["ACTIVE", "DRAFT", "ARCHIVED"];

fn session(title: &str, status: &str) -> Value {
    json!({"title": title, "status": status, "location": "Caserne 3", "starts_at": 1_770_000_000, "seats": 10})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_writes_through_one_instance_never_leave_the_other_stale() {
    two_apps(None).await;
}

/// The same with in-process tiers (`l1` on every read of the app) in both instances: a
/// read through the other instance may be old for at most δ after the write returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_in_process_tiers_the_other_instance_is_current_within_the_bound() {
    two_apps(Some(Duration::from_millis(300))).await;
}

/// Another instance's cache on `scoped`'s Redis and namespace, with the app's settings and
/// the tests' key; with `bound`, an `l1` tier of that bound, fresh when returned.
async fn instance_cache(
    scoped: &testkit::ScopedCache,
    bound: Option<Duration>,
) -> cache_core::Cache {
    let builder = common::sealed(testkit::Target::from_env().builder(scoped.cache.namespace()));
    let builder = match bound {
        Some(bound) => builder.l1(16 << 20).l1_bound(bound),
        None => builder,
    };
    let cache = builder
        .build()
        .await
        .expect("a cache on the same Redis and namespace");
    let started = Instant::now();
    while bound.is_some() && !cache.l1_stats().is_some_and(|tier| tier.fresh) {
        assert!(
            started.elapsed().as_secs() < 10,
            "the tier never became fresh"
        );
        tokio::time::sleep(Duration::from_millis(5)).await; // pacing while polling
    }
    cache
}

/// A session ended through one instance is refused by the other, whose tier held it,
/// within the bound δ of the logout's return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_through_one_instance_is_refused_by_the_other_within_the_bound() {
    let bound = Duration::from_millis(300);
    let dir = std::env::temp_dir().join(testkit::unique_namespace("fmpa-logout"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let scoped = testkit::redis_cache_with("two-apps-logout", common::sealed).await;
    let other_cache = instance_cache(&scoped, Some(bound)).await;
    let one = fmpa_app::start(
        &common::config(&url),
        instance_cache(&scoped, Some(bound)).await,
    )
    .await
    .expect("the app starts");
    let other = fmpa_app::start(&common::config(&url), other_cache.clone())
        .await
        .expect("the app starts");
    let (one, other) = (Api::new(one.addr), Api::new(other.addr));
    let user = one.user(common::MEMBER_1).await;
    for _ in 0..2 {
        let (status, me) = other
            .call(Method::GET, Some(&user.token), "/api/me", None)
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a token opened through one instance: {me}"
        );
    }
    assert!(
        other_cache.stats().prefix("session").local_hits > 0,
        "the other instance's tier holds the session"
    );
    let (status, _) = one
        .call(Method::POST, Some(&user.token), "/api/auth/logout", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let returned = Instant::now();
    loop {
        let started = Instant::now();
        let (status, _) = other
            .call(Method::GET, Some(&user.token), "/api/me", None)
            .await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            started - returned <= bound,
            "the ended session was still accepted by a read that began {:?} after the logout returned",
            started - returned
        );
        tokio::task::yield_now().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Random writes through one instance; every affected route read through the other then
/// equals the database's answer: at once, or (`bound`: both with an `l1` tier) within δ.
async fn two_apps(bound: Option<Duration>) {
    let (steps, seed, mut rng) = testkit::seeded_run("TWO_APPS", 150);

    let dir = std::env::temp_dir().join(testkit::unique_namespace("fmpa-two"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let scoped = testkit::redis_cache_with("two-apps", common::sealed).await;
    let (writer_cache, other_cache) = (
        instance_cache(&scoped, bound).await,
        instance_cache(&scoped, bound).await,
    );
    let members = [common::MEMBER_1, common::MEMBER_2];
    let writer = Instance::start(&url, writer_cache, members).await;
    let reader = Instance::start(&url, other_cache, members).await;
    let truth_cache = cache_core::Cache::builder()
        .memory()
        .build()
        .await
        .expect("memory");
    let truth = Instance::start(&url, truth_cache, [common::ADMIN_1, common::ADMIN_2]).await;
    let (status, _) = truth
        .call(
            0,
            Method::PUT,
            "/api/admin/cache",
            Some(json!({"reads_cached": false})),
        )
        .await;
    assert!(status.is_success());

    // Both tenants' ids: a write by one tenant on the other's ids must change nothing.
    let mut ids: Vec<i64> = Vec::new();
    for who in 0..2 {
        for table in ["fmpa", "formations"] {
            let (_, page) = truth
                .call(who, Method::GET, &format!("/api/{table}?limit=5"), None)
                .await;
            for row in page["items"].as_array().into_iter().flatten() {
                if let Some(id) = row["id"].as_i64() {
                    ids.push(id);
                }
            }
        }
    }
    let mut compared = 0;
    for step in 0..steps {
        let table = ["fmpa", "formations"][rng.below(2) as usize];
        let mut routes = vec![
            format!("/api/{table}?limit=100"),
            "/api/dashboard/stats".to_owned(),
        ];
        routes.extend(
            STATUSES
                .iter()
                .map(|status| format!("/api/{table}?status={status}&limit=100")),
        );
        let id = (!ids.is_empty()).then(|| ids[rng.below(ids.len() as u64) as usize]);
        if let Some(id) = id {
            routes.push(format!("/api/{table}/{id}"));
        }
        // Fill the reader's cache with what is there now, for both tenants.
        for who in 0..2 {
            for route in &routes {
                reader.call(who, Method::GET, route, None).await;
            }
        }
        let status = STATUSES[rng.below(3) as usize];
        let who = rng.below(2) as usize;
        let what = match (rng.below(3), id) {
            (0, _) | (_, None) => {
                let (code, row) = writer
                    .call(
                        who,
                        Method::POST,
                        &format!("/api/{table}"),
                        Some(session("Created", status)),
                    )
                    .await;
                assert_eq!(code, StatusCode::CREATED, "seed {seed}, step {step}: {row}");
                if let Some(id) = row["id"].as_i64() {
                    ids.push(id);
                    routes.push(format!("/api/{table}/{id}"));
                }
                "create"
            }
            (1, Some(id)) => {
                writer
                    .call(
                        who,
                        Method::PUT,
                        &format!("/api/{table}/{id}"),
                        Some(session(&format!("Updated {step}"), status)),
                    )
                    .await;
                "update"
            }
            (_, Some(id)) => {
                writer
                    .call(who, Method::DELETE, &format!("/api/{table}/{id}"), None)
                    .await;
                "delete"
            }
        };
        let returned = Instant::now();
        for (reader_who, route) in routes.iter().flat_map(|r| [(0, r), (1, r)]) {
            loop {
                let started = Instant::now();
                let seen = reader.call(reader_who, Method::GET, route, None).await;
                let expected = truth.call(reader_who, Method::GET, route, None).await;
                compared += 1;
                match bound {
                    Some(bound) if seen != expected && started - returned <= bound => {
                        // Old, within the bound: read again.
                        tokio::task::yield_now().await;
                    }
                    _ => {
                        assert_eq!(
                            seen,
                            expected,
                            "seed {seed}, step {step}: after a {what} by tenant {who}, {route} read by tenant {reader_who} through the other instance (began {:?} after the write returned)",
                            started - returned
                        );
                        break;
                    }
                }
            }
        }
    }
    eprintln!("two apps: {compared} reads compared with the database's answer");
    let _ = std::fs::remove_dir_all(&dir);
}
