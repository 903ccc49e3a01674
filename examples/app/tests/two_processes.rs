//! Two instances of the app (two caches, as two processes would have) on one database
//! and one Redis: random writes through one, and every affected route read through the
//! other equals the database's answer (a third instance with cached reads off).
//! `TWO_APPS_STEPS` (default 150) and `TWO_APPS_SEED` (default: from the clock) set the
//! run; the seed is printed, and every failure names it.

use fmpa_app::db::SeedScale;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct Instance {
    base: String,
    client: Client,
}

impl Instance {
    async fn start(database_url: &str, cache: cache_core::Cache) -> Instance {
        let config = fmpa_app::Config {
            bind: "127.0.0.1:0".parse().unwrap(),
            database_url: database_url.to_owned(),
            seed: SeedScale::SMALL,
        };
        let running = fmpa_app::start(&config, cache)
            .await
            .expect("the app starts");
        Instance {
            base: format!("http://{}", running.addr),
            client: Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-tenant-id", "tenant-1");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the app answers");
        let status = response.status();
        let value = response.json().await.unwrap_or(Value::Null);
        (status, value)
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
    two_apps(Some(std::time::Duration::from_millis(300))).await;
}

/// Random writes through one instance; every affected route read through the other then
/// equals the database's answer: at once, or (`bound`: both with an `l1` tier) within δ.
async fn two_apps(bound: Option<std::time::Duration>) {
    let (steps, seed, mut rng) = testkit::seeded_run("TWO_APPS", 150);

    let dir = std::env::temp_dir().join(testkit::unique_namespace("fmpa-two"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let scoped = testkit::redis_cache("two-apps").await;
    let tiered = |builder: cache_core::CacheBuilder| match bound {
        Some(bound) => builder.l1(16 << 20).l1_bound(bound),
        None => builder,
    };
    let build = || async {
        tiered(testkit::Target::from_env().builder(scoped.cache.namespace()))
            .build()
            .await
            .expect("a cache on the same Redis and namespace")
    };
    let (writer_cache, other_cache) = (build().await, build().await);
    for cache in [&writer_cache, &other_cache] {
        let started = std::time::Instant::now();
        while bound.is_some() && !cache.l1_stats().is_some_and(|tier| tier.fresh) {
            assert!(
                started.elapsed().as_secs() < 10,
                "the tier never became fresh"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await; // pacing while polling
        }
    }
    let writer = Instance::start(&url, writer_cache).await;
    let reader = Instance::start(&url, other_cache).await;
    let truth_cache = cache_core::Cache::builder()
        .memory()
        .build()
        .await
        .expect("memory");
    let truth = Instance::start(&url, truth_cache).await;
    let (status, _) = truth
        .call(
            Method::PUT,
            "/api/admin/cache",
            Some(json!({"reads_cached": false})),
        )
        .await;
    assert!(status.is_success());

    let mut ids: Vec<i64> = Vec::new();
    for table in ["fmpa", "formations"] {
        let (_, page) = truth
            .call(Method::GET, &format!("/api/{table}?limit=5"), None)
            .await;
        for row in page["items"].as_array().into_iter().flatten() {
            if let Some(id) = row["id"].as_i64() {
                ids.push(id);
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
        // Fill the reader's cache with what is there now.
        for route in &routes {
            reader.call(Method::GET, route, None).await;
        }
        let status = STATUSES[rng.below(3) as usize];
        let what = match (rng.below(3), id) {
            (0, _) | (_, None) => {
                let (code, row) = writer
                    .call(
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
                        Method::PUT,
                        &format!("/api/{table}/{id}"),
                        Some(session(&format!("Updated {step}"), status)),
                    )
                    .await;
                "update"
            }
            (_, Some(id)) => {
                writer
                    .call(Method::DELETE, &format!("/api/{table}/{id}"), None)
                    .await;
                "delete"
            }
        };
        let returned = std::time::Instant::now();
        for route in &routes {
            loop {
                let started = std::time::Instant::now();
                let seen = reader.call(Method::GET, route, None).await;
                let expected = truth.call(Method::GET, route, None).await;
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
                            "seed {seed}, step {step}: after a {what}, {route} read through the other instance (began {:?} after the write returned)",
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
