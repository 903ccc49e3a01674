//! The app end to end, on Redis, through tokens: every route, hits on second reads, no
//! stale data after any write, tenants isolated, errors as JSON and never cached. Once on
//! an SQLite file, once on PostgreSQL (`DATABASE_URL`, a server the test creates its own
//! database on).

mod common;

use common::{Api, User};
use fmpa_app::db::Db;
use fmpa_app::routes::CacheReport;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct App {
    api: Api,
    db: Db,
    /// Members of tenant-1 and tenant-2, and an admin (of tenant-1) for the operations
    /// routes.
    a: User,
    b: User,
    admin: User,
    _scoped: testkit::ScopedCache,
}

async fn start(database_url: &str, test: &str) -> App {
    let scoped = testkit::redis_cache_with(test, common::sealed).await;
    let running = fmpa_app::start(&common::config(database_url), scoped.cache.clone())
        .await
        .expect("the app starts");
    assert!(running.seeded, "a fresh database is seeded");
    let api = Api::new(running.addr);
    App {
        a: api.user(common::MEMBER_1).await,
        b: api.user(common::MEMBER_2).await,
        admin: api.user(common::ADMIN_1).await,
        api,
        db: running.repo.db().clone(),
        _scoped: scoped,
    }
}

impl App {
    async fn call(
        &self,
        method: reqwest::Method,
        user: Option<&User>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.api
            .call(method, user.map(|u| u.token.as_str()), path, body)
            .await
    }

    async fn get(&self, user: &User, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, Some(user), path, None)
            .await
    }

    async fn stats(&self) -> CacheReport {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                Some(&self.admin),
                "/api/cache/stats",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_value(body).expect("cache report")
    }

    async fn hits(&self, prefix: &str) -> u64 {
        self.stats()
            .await
            .prefixes
            .get(prefix)
            .map_or(0, |p| p.hits)
    }

    /// GETs `path` twice: both 200 and equal, the second a hit of `prefix`.
    async fn read_twice(&self, user: &User, path: &str, prefix: &str) -> Value {
        let (status, first) = self.get(user, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {first}");
        let hits = self.hits(prefix).await;
        let (status, second) = self.get(user, path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(first, second, "{path}: the hit returns what the miss did");
        assert_eq!(
            self.hits(prefix).await,
            hits + 1,
            "{path}: the second read is a hit"
        );
        first
    }
}

fn session(title: &str) -> Value {
    json!({"title": title, "status": "ACTIVE", "location": "Caserne 3", "starts_at": 1_770_000_000, "seats": 10})
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|row| row["id"].as_i64().expect("id"))
        .collect()
}

async fn exercise(app: &App) {
    let (a, b) = (&app.a, &app.b);
    // Every list route: a hit on the second read, only the tenant's rows.
    for (path, prefix) in [
        ("/api/fmpa?status=ACTIVE", "fmpa"),
        ("/api/formations?page=2&limit=5", "formation"),
        ("/api/personnel/files", "personnel"),
        ("/api/conversations?status=OPEN", "conversation"),
        ("/api/notifications?limit=50", "notification"),
        ("/api/tta/entries", "tta"),
        ("/api/chat/channels", "chat"),
    ] {
        let page = app.read_twice(a, path, prefix).await;
        let items = page["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{path} has rows");
        assert!(
            items
                .iter()
                .all(|row| row["tenant_id"] == a.tenant.as_str()),
            "{path}: only {}'s rows",
            a.tenant
        );
        assert!(page["pagination"]["total"].as_i64().unwrap() > 0);
    }
    let first_fmpa = ids(&app.get(a, "/api/fmpa").await.1)[0];
    app.read_twice(a, &format!("/api/fmpa/{first_fmpa}"), "fmpa")
        .await;
    let first_formation = ids(&app.get(a, "/api/formations").await.1)[0];
    app.read_twice(
        a,
        &format!("/api/formations/{first_formation}"),
        "formation",
    )
    .await;
    let profile = app.read_twice(a, "/api/users/1/profile", "user").await;
    assert_eq!(profile["tenant_id"], a.tenant.as_str());
    let me = app.read_twice(a, "/api/me", "user").await;
    assert_eq!(me["id"], a.id);
    let dashboard = app.read_twice(a, "/api/dashboard/stats", "stats").await;

    // Tenants never see each other's data.
    assert_eq!(
        app.get(b, &format!("/api/fmpa/{first_fmpa}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(b, "/api/users/1/profile").await.0,
        StatusCode::NOT_FOUND
    );
    assert!(!ids(&app.get(b, "/api/fmpa").await.1).contains(&first_fmpa));

    // Writes: every later read reflects them, on both session tables.
    for (table, prefix) in [("fmpa", "fmpa"), ("formations", "formation")] {
        let list = format!("/api/{table}?limit=100");
        app.read_twice(a, &list, prefix).await;
        let other_tenant_list = app.read_twice(b, &list, prefix).await;
        // Lists filtered by status, cached before the writes: each write must reach the
        // lists of the statuses it touches (tags), and leave the others right.
        let (active, draft) = (
            format!("/api/{table}?status=ACTIVE&limit=100"),
            format!("/api/{table}?status=DRAFT&limit=100"),
        );
        app.read_twice(a, &active, prefix).await;
        app.read_twice(a, &draft, prefix).await;

        let (status, created) = app
            .call(
                reqwest::Method::POST,
                Some(a),
                &format!("/api/{table}"),
                Some(session("Created")),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_i64().unwrap();
        assert_eq!(created["tenant_id"], a.tenant.as_str());
        assert!(
            ids(&app.get(a, &list).await.1).contains(&id),
            "POST shows in the list"
        );
        assert!(ids(&app.get(a, &active).await.1).contains(&id));
        assert!(!ids(&app.get(a, &draft).await.1).contains(&id));
        assert_eq!(
            app.get(a, &format!("/api/{table}/{id}")).await.1["title"],
            "Created"
        );

        let hits = app.hits(prefix).await;
        assert_eq!(
            app.get(b, &list).await.1,
            other_tenant_list,
            "the other tenant is untouched"
        );
        assert_eq!(
            app.hits(prefix).await,
            hits + 1,
            "and still served from the cache"
        );

        let (status, _) = app
            .call(
                reqwest::Method::PUT,
                Some(a),
                &format!("/api/{table}/{id}"),
                Some(session("Renamed")),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let hits = app.hits(prefix).await;
        assert_eq!(
            app.get(a, &format!("/api/{table}/{id}")).await.1["title"],
            "Renamed",
            "PUT shows on the item"
        );
        assert_eq!(
            app.hits(prefix).await,
            hits + 1,
            "PUT wrote the item through: its next read is a hit"
        );
        let page = app.get(a, &list).await.1;
        let row = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap();
        assert_eq!(row["title"], "Renamed", "PUT shows in the list");

        // A status change moves it from one filtered list to the other.
        let mut drafted = session("Drafted");
        drafted["status"] = json!("DRAFT");
        let (status, _) = app
            .call(
                reqwest::Method::PUT,
                Some(a),
                &format!("/api/{table}/{id}"),
                Some(drafted),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !ids(&app.get(a, &active).await.1).contains(&id),
            "left ACTIVE"
        );
        assert!(
            ids(&app.get(a, &draft).await.1).contains(&id),
            "joined DRAFT"
        );
        assert_eq!(
            app.get(a, &format!("/api/{table}/{id}")).await.1["status"],
            "DRAFT"
        );

        // Another tenant cannot change or delete it.
        let (status, _) = app
            .call(
                reqwest::Method::PUT,
                Some(b),
                &format!("/api/{table}/{id}"),
                Some(session("Hijack")),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            app.call(
                reqwest::Method::DELETE,
                Some(b),
                &format!("/api/{table}/{id}"),
                None
            )
            .await
            .0,
            StatusCode::NOT_FOUND
        );

        let (status, _) = app
            .call(
                reqwest::Method::DELETE,
                Some(a),
                &format!("/api/{table}/{id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.get(a, &format!("/api/{table}/{id}")).await.0,
            StatusCode::NOT_FOUND,
            "DELETE shows on the item"
        );
        assert!(
            !ids(&app.get(a, &list).await.1).contains(&id),
            "DELETE shows in the list"
        );
        assert!(
            !ids(&app.get(a, &draft).await.1).contains(&id),
            "DELETE shows in the list of its status"
        );
    }
    // The dashboard aggregate was invalidated by the writes and recomputed.
    let after = app.get(a, "/api/dashboard/stats").await.1;
    assert_eq!(
        after, dashboard,
        "created then deleted: the same counts, freshly computed"
    );
    let (_, created) = app
        .call(
            reqwest::Method::POST,
            Some(a),
            "/api/fmpa",
            Some(session("Counted")),
        )
        .await;
    let counted = app.get(a, "/api/dashboard/stats").await.1;
    assert_ne!(counted, after, "a write changes the dashboard at once");
    app.call(
        reqwest::Method::DELETE,
        Some(a),
        &format!("/api/fmpa/{}", created["id"]),
        None,
    )
    .await;

    // Bad requests are 4xx JSON errors.
    for (method, tenant, path, body, expected) in [
        (
            reqwest::Method::GET,
            None,
            "/api/fmpa",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            reqwest::Method::GET,
            Some(a),
            "/api/fmpa?page=0",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            reqwest::Method::GET,
            Some(a),
            "/api/fmpa?limit=1000",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            reqwest::Method::GET,
            Some(a),
            "/api/fmpa?page=two",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            reqwest::Method::GET,
            Some(a),
            "/api/fmpa/abc",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            reqwest::Method::GET,
            Some(a),
            "/api/fmpa/999999999",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::POST,
            Some(a),
            "/api/fmpa",
            Some(json!({"title": ""})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            reqwest::Method::POST,
            Some(a),
            "/api/fmpa",
            Some(
                json!({"title": "x", "status": "NOPE", "location": "", "starts_at": 0, "seats": 1}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            reqwest::Method::GET,
            Some(a),
            "/api/nothing",
            None,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, body) = app.call(method, tenant, path, body).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: JSON error, got {body}");
    }

    // A database error is a 5xx and is never cached.
    let path = "/api/chat/channels?page=3";
    sqlx::query("ALTER TABLE chat_channels RENAME TO chat_channels_away")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, body) = app.get(a, path).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "database error");
    sqlx::query("ALTER TABLE chat_channels_away RENAME TO chat_channels")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let hits = app.hits("chat").await;
    assert_eq!(app.get(a, path).await.0, StatusCode::OK);
    assert_eq!(
        app.hits("chat").await,
        hits,
        "the error was not cached: this read was a miss"
    );

    // Monitoring.
    let report = app.stats().await;
    assert_eq!(report.backend, "redis");
    assert!(report.total.hit_rate > 0.0);
    assert!(
        report.prefixes["session"].hits > 0,
        "sessions are read from the cache"
    );
    let (status, metrics) = app
        .call(reqwest::Method::GET, Some(&app.admin), "/metrics", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics
            .as_str()
            .unwrap_or_default()
            .contains("cache_hits_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_sqlite_on_redis() {
    let dir = std::env::temp_dir().join(testkit::unique_namespace("fmpa-e2e"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let app = start(&url, "e2e-sqlite").await;
    exercise(&app).await;
    app.db.pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// On PostgreSQL: `DATABASE_URL` names a server and a database to connect to; the test
/// creates a database of its own there and drops it afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_postgres_on_redis() {
    common::on_own_postgres("fmpa_e2e", |_, url, _| async move {
        let app = start(&url, "e2e-postgres").await;
        exercise(&app).await;
        app.db.pool.close().await;
    })
    .await;
}
