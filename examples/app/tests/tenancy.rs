//! Each tenant kept to itself, through every route: no token, a forged, an expired or an
//! ended one is 401; a token of tenant B never reads or writes tenant A's rows; members
//! do not reach the operations routes; sessions and profiles are sealed in Redis.

mod common;

use cache_core::__private::raw;
use common::{Api, User};
use fmpa_app::credentials::{AuthConfig, Claims};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;

/// An app on an SQLite file of its own and a cache on Redis, dropped (file and keys) at
/// the end.
struct App {
    api: Api,
    repo: fmpa_app::repo::Repo,
    scoped: testkit::ScopedCache,
    dir: PathBuf,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start(
    test: &str,
    configure: impl FnOnce(cache_core::CacheBuilder) -> cache_core::CacheBuilder,
) -> App {
    let dir = std::env::temp_dir().join(testkit::unique_namespace(test));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let scoped = testkit::redis_cache_with(test, configure).await;
    let running = fmpa_app::start(&common::config(&url), scoped.cache.clone())
        .await
        .expect("the app starts");
    App {
        api: Api::new(running.addr),
        repo: running.repo,
        scoped,
        dir,
    }
}

fn session(title: &str) -> Value {
    json!({"title": title, "status": "ACTIVE", "location": "Caserne 3", "starts_at": 1_770_000_000, "seats": 10})
}

/// Every route of the API but the login, with a body where it takes one.
fn routes() -> Vec<(Method, &'static str, Option<Value>)> {
    let body = || Some(session("Any"));
    vec![
        (Method::GET, "/api/fmpa", None),
        (Method::POST, "/api/fmpa", body()),
        (Method::GET, "/api/fmpa/1", None),
        (Method::PUT, "/api/fmpa/1", body()),
        (Method::DELETE, "/api/fmpa/1", None),
        (Method::GET, "/api/formations", None),
        (Method::POST, "/api/formations", body()),
        (Method::GET, "/api/formations/1", None),
        (Method::PUT, "/api/formations/1", body()),
        (Method::DELETE, "/api/formations/1", None),
        (Method::GET, "/api/personnel/files", None),
        (Method::GET, "/api/conversations", None),
        (Method::GET, "/api/notifications", None),
        (Method::GET, "/api/tta/entries", None),
        (Method::GET, "/api/chat/channels", None),
        (Method::GET, "/api/users/1/profile", None),
        (Method::GET, "/api/dashboard/stats", None),
        (Method::GET, "/api/me", None),
        (Method::POST, "/api/auth/logout", None),
        (Method::GET, "/api/cache/stats", None),
        (Method::GET, "/api/admin/cache", None),
        (
            Method::PUT,
            "/api/admin/cache",
            Some(json!({"reads_cached": false})),
        ),
        (Method::GET, "/metrics", None),
    ]
}

/// The claims of `user`'s token (checked with the tests' secret).
fn claims(user: &User) -> Claims {
    AuthConfig::new(common::SECRET)
        .unwrap()
        .tokens()
        .verify(&user.token)
        .expect("the app's own token")
}

/// Tokens that must all be refused, made from `user`'s.
fn forged(user: &User, other: &User) -> Vec<(&'static str, String)> {
    let ours = AuthConfig::new(common::SECRET).unwrap().tokens();
    let theirs = AuthConfig::new(b"not the app's secret, but as long as it".as_slice())
        .unwrap()
        .tokens();
    let parts: Vec<&str> = user.token.split('.').collect();
    let other_parts: Vec<&str> = other.token.split('.').collect();
    let mut expired = claims(user);
    expired.exp = fmpa_app::credentials::unix_now() - 1;
    let mut moved = claims(user);
    moved.tenant = other.tenant.clone();
    let mut elsewhere = claims(user);
    elsewhere.sid = claims(other).sid;
    vec![
        ("signed with another secret", theirs.sign(&claims(user))),
        ("expired", ours.sign(&expired)),
        (
            "unsigned (alg none)",
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]),
        ),
        (
            "another token's payload under this signature",
            format!("{}.{}.{}", parts[0], other_parts[1], parts[2]),
        ),
        ("signature cut off", format!("{}.{}.", parts[0], parts[1])),
        ("garbage", "not.a.token".to_owned()),
        // Signed with the right secret, but disagreeing with the session it names: the
        // session is the authority.
        ("another tenant than its session's", ours.sign(&moved)),
        ("another user's session", ours.sign(&elsewhere)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_a_missing_forged_expired_or_ended_token() {
    let app = start("auth-refusals", common::sealed).await;
    let member = app.api.user(common::MEMBER_1).await;
    let other = app.api.user(common::MEMBER_2).await;
    let ended = app.api.user(common::MEMBER_1).await;
    let (status, _) = app
        .api
        .call(Method::POST, Some(&ended.token), "/api/auth/logout", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let mut refused = vec![("none", None)];
    refused.push(("ended by a logout", Some(ended.token.clone())));
    for (what, token) in forged(&member, &other) {
        refused.push((what, Some(token)));
    }
    for (method, path, body) in routes() {
        for (what, token) in &refused {
            let (status, answer) = app
                .api
                .call(method.clone(), token.as_deref(), path, body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with a token {what}: {answer}"
            );
            assert!(answer["error"].is_string(), "{method} {path}: {answer}");
        }
    }
    // The challenge header, and other schemes.
    for header in ["Basic dXNlcjpwYXNz", "Bearer ", "Bearer", ""] {
        let response = app
            .api
            .client
            .get(format!("{}/api/fmpa", app.api.base))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    // The role is the session's, not the token's: a member's token claiming ADMIN (signed
    // with the right secret) is still a member's.
    let mut promoted = claims(&member);
    promoted.role = "ADMIN".to_owned();
    let promoted = AuthConfig::new(common::SECRET)
        .unwrap()
        .tokens()
        .sign(&promoted);
    for path in ["/api/cache/stats", "/api/admin/cache", "/metrics"] {
        let (status, _) = app.api.call(Method::GET, Some(&promoted), path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // And the member's own token still works: nothing above ended its session.
    let (status, me) = app
        .api
        .call(Method::GET, Some(&member.token), "/api/me", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], member.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_check_the_password_and_say_nothing_of_unknown_emails() {
    let app = start("auth-login", common::sealed).await;
    let (wrong, wrong_body) = app.api.login("user5@example.org", "not the password").await;
    let (unknown, unknown_body) = app
        .api
        .login("nobody@example.org", fmpa_app::credentials::DEMO_PASSWORD)
        .await;
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_body, unknown_body, "the same answer for both");
    let (status, _) = app
        .api
        .call(
            Method::POST,
            None,
            "/api/auth/login",
            Some(json!({"email": "user5@example.org"})),
        )
        .await;
    assert!(status.is_client_error(), "no password: {status}");
    let (status, body) = app
        .api
        .login("user5@example.org", fmpa_app::credentials::DEMO_PASSWORD)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["tenant_id"], "tenant-1");
    assert_eq!(body["user"]["role"], "MEMBER");
    assert!(body["user"].get("password_hash").is_none());
    assert!(body["expires_at"].as_u64().unwrap() > fmpa_app::credentials::unix_now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_one_tenant_never_reaches_another_tenants_rows() {
    let app = start("auth-tenants", common::sealed).await;
    let a = app.api.user(common::MEMBER_1).await;
    let b = app.api.user(common::MEMBER_2).await;
    assert_ne!(a.tenant, b.tenant);
    let call = |user: &User, method: Method, path: String, body: Option<Value>| {
        let (api, token) = (app.api.clone(), user.token.clone());
        async move { api.call(method, Some(&token), &path, body).await }
    };
    let get = |user: &User, path: String| call(user, Method::GET, path, None);

    // A's rows, read (and cached) by A first.
    let mut a_items = Vec::new();
    for table in ["fmpa", "formations"] {
        let (status, page) = get(&a, format!("/api/{table}")).await;
        assert_eq!(status, StatusCode::OK);
        let id = page["items"][0]["id"].as_i64().expect("a row of A");
        let (status, item) = get(&a, format!("/api/{table}/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        a_items.push((table, id, item));
    }
    let (status, a_profile) = get(&a, format!("/api/users/{}/profile", a.id)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, a_dashboard) = get(&a, "/api/dashboard/stats".into()).await;

    // Every list route, read by B after A cached it: only B's rows.
    for path in [
        "/api/fmpa",
        "/api/formations",
        "/api/personnel/files",
        "/api/conversations",
        "/api/notifications",
        "/api/tta/entries",
        "/api/chat/channels",
    ] {
        let (_, mine) = get(&a, path.into()).await;
        let (status, page) = get(&b, path.into()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let rows = page["items"].as_array().expect("items");
        assert!(!rows.is_empty(), "{path}");
        assert!(
            rows.iter().all(|row| row["tenant_id"] == b.tenant.as_str()),
            "{path}: B sees only B's rows"
        );
        assert_ne!(page, mine, "{path}");
    }
    // A's items by id: not found for B, for reading, changing and deleting.
    for (table, id, item) in &a_items {
        let path = format!("/api/{table}/{id}");
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(session("Hijacked"))),
            (Method::DELETE, None),
        ] {
            let (status, answer) = call(&b, method.clone(), path.clone(), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        }
        let (status, now) = get(&a, path.clone()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&now, item, "{path}: untouched by B");
    }
    // A's profile; B's own profile and dashboard are B's.
    let (status, _) = get(&b, format!("/api/users/{}/profile", a.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, me) = get(&b, "/api/me".into()).await;
    assert_eq!(me["id"], b.id);
    assert_eq!(me["tenant_id"], b.tenant.as_str());
    assert_ne!(me, a_profile);
    let (_, b_dashboard) = get(&b, "/api/dashboard/stats".into()).await;
    assert_ne!(b_dashboard, a_dashboard);
    // A write by B lands in B's tenant, whatever its body says.
    let mut body = session("Mine");
    body["tenant_id"] = json!(a.tenant);
    let (status, created) = call(&b, Method::POST, "/api/fmpa".into(), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["tenant_id"], b.tenant.as_str());
    let id = created["id"].as_i64().unwrap();
    let (status, _) = get(&a, format!("/api/fmpa/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, a_dashboard_after) = get(&a, "/api/dashboard/stats".into()).await;
    assert_eq!(a_dashboard_after, a_dashboard, "A's counts did not move");
    // B's logout ends B's session only.
    let (status, _) = call(&b, Method::POST, "/api/auth/logout".into(), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(get(&b, "/api/me".into()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&a, "/api/me".into()).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_platform_operator_reaches_the_operations_routes() {
    let app = start("auth-operator", common::sealed).await;
    let member = app.api.user(common::MEMBER_1).await;
    // A tenant's ADMIN administers its tenant, not the platform: the operations routes act
    // on every tenant (cached reads off for all, every tenant's statistics).
    let tenant_admin = app.api.user(common::ADMIN_2).await;
    let operator = app.api.user(common::OPERATOR).await;
    for user in [&member, &tenant_admin] {
        for (method, path, body) in routes()
            .into_iter()
            .filter(|(_, path, _)| path.contains("cache") || path.contains("metrics"))
        {
            let (status, answer) = app
                .api
                .call(method.clone(), Some(&user.token), path, body.clone())
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
            assert!(answer["error"].is_string());
        }
    }
    assert!(app.repo.cache_reads(), "their PUTs changed nothing");
    let (status, _) = app
        .api
        .call(
            Method::PUT,
            Some(&operator.token),
            "/api/admin/cache",
            Some(json!({"reads_cached": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!app.repo.cache_reads());
    for path in ["/api/cache/stats", "/api/admin/cache", "/metrics"] {
        let (status, _) = app
            .api
            .call(Method::GET, Some(&operator.token), path, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // The tenant admin is still its tenant's admin (the profile says so).
    let (status, me) = app
        .api
        .call(Method::GET, Some(&tenant_admin.token), "/api/me", None)
        .await;
    assert_eq!(
        (status, me["role"].as_str()),
        (StatusCode::OK, Some("ADMIN"))
    );
}

/// The keys of the sensitive prefixes, and their stored bytes.
async fn sensitive_entries(cache: &cache_core::Cache) -> Vec<(String, Vec<u8>)> {
    let mut entries = Vec::new();
    for key in raw::keys(cache, "*").await {
        if key.contains("{session:") || key.contains("{user:") {
            let bytes = raw::get(cache, &key).await.unwrap_or_default();
            entries.push((key, bytes));
        }
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_profiles_are_sealed_in_redis() {
    let app = start("auth-sealed", common::sealed).await;
    let user = app.api.user(common::MEMBER_1).await;
    for path in [
        "/api/me".to_owned(),
        format!("/api/users/{}/profile", common::ADMIN_1),
    ] {
        for _ in 0..2 {
            let (status, _) = app
                .api
                .call(Method::GET, Some(&user.token), &path, None)
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let stats = app.scoped.cache.stats();
    assert!(stats.prefix("session").hits > 0, "sessions are cached");
    assert!(stats.prefix("user").hits > 0, "profiles are cached");
    let entries = sensitive_entries(&app.scoped.cache).await;
    assert!(
        entries.iter().any(|(key, _)| key.contains("{session:")),
        "{entries:?}"
    );
    let sid = claims(&user).sid;
    for (key, bytes) in &entries {
        for secret in [
            sid.as_str(),
            &user.tenant,
            "user5@example.org",
            "user1@example.org",
        ] {
            assert!(!key.contains(secret), "{key} names {secret}");
            assert!(
                !bytes
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "{key} holds {secret} in clear"
            );
        }
        for field in ["MEMBER", "ADMIN", "expires_at", "email"] {
            assert!(
                !bytes
                    .windows(field.len())
                    .any(|window| window == field.as_bytes()),
                "{key} holds {field} in clear"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_sessions_and_profiles_are_not_cached_and_the_app_works() {
    let app = start("auth-keyless", fmpa_app::declare_sensitive).await;
    let user = app.api.user(common::MEMBER_1).await;
    for _ in 0..3 {
        let (status, me) = app
            .api
            .call(Method::GET, Some(&user.token), "/api/me", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["id"], user.id);
    }
    let (status, _) = app
        .api
        .call(Method::GET, Some(&user.token), "/api/fmpa", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(sensitive_entries(&app.scoped.cache).await.is_empty());
    let stats = app.scoped.cache.stats();
    assert_eq!(stats.prefix("session").hits, 0);
    assert!(stats.prefix("session").bypasses >= 4, "counted as bypasses");
    assert!(
        stats.prefix("fmpa").misses > 0,
        "the other prefixes are cached"
    );
    // Logging out still ends the session: it is read from the database.
    let (status, _) = app
        .api
        .call(Method::POST, Some(&user.token), "/api/auth/logout", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .api
        .call(Method::GET, Some(&user.token), "/api/me", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
