//! What the app's tests share: the configuration every instance of a test uses (one
//! token secret, one set of cache keys), and an HTTP client that logs in.
#![allow(dead_code)] // each test file uses its part

use cache_core::{CacheBuilder, EncryptionKeys};
use fmpa_app::credentials::{AuthConfig, DEMO_PASSWORD};
use fmpa_app::db::SeedScale;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// The token secret of every instance a test starts (they must share it).
pub const SECRET: &[u8] = b"the app tests' token secret, 32+ bytes long";

/// The configuration of an instance on `database_url`, on a free port, small seed.
pub fn config(database_url: &str) -> fmpa_app::Config {
    fmpa_app::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_owned(),
        seed: SeedScale::SMALL,
        auth: AuthConfig::new(SECRET).unwrap(),
    }
}

/// The app's cache settings with the tests' key: sessions and profiles sealed.
pub fn sealed(builder: CacheBuilder) -> CacheBuilder {
    fmpa_app::declare_sensitive(builder)
        .encryption_keys(EncryptionKeys::new().with_key("test", [42; 32]))
}

/// Seeded users of the small seed (4 tenants): user n is in `tenant-{n % 4}`, an admin
/// when `n / 4 % 10 == 0`; user 1 is also the platform's operator.
pub const ADMIN_1: u32 = 1; // tenant-1, ADMIN, and the platform's OPERATOR
pub const OPERATOR: u32 = ADMIN_1;
pub const MEMBER_1: u32 = 5; // tenant-1, MEMBER
pub const MEMBER_2: u32 = 6; // tenant-2, MEMBER
pub const ADMIN_2: u32 = 2; // tenant-2, ADMIN

/// A logged-in user: their bearer token and tenant.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub token: String,
    pub tenant: String,
}

/// An instance's base URL and an HTTP client.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: Client,
}

impl Api {
    pub fn new(addr: std::net::SocketAddr) -> Api {
        Api {
            base: format!("http://{addr}"),
            client: Client::new(),
        }
    }

    /// `method path` with `token` as bearer (if any) and a JSON `body` (if any): the status
    /// and the JSON answer (`Null` when empty, a string when not JSON).
    pub async fn call(
        &self,
        method: Method,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the app answers");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// `POST /api/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            None,
            "/api/auth/login",
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// Logs seeded user `n` in with the demo password.
    pub async fn user(&self, n: u32) -> User {
        let (status, body) = self
            .login(&format!("user{n}@example.org"), DEMO_PASSWORD)
            .await;
        assert_eq!(status, StatusCode::OK, "user{n} logs in: {body}");
        User {
            id: body["user"]["id"].as_i64().expect("the user's id"),
            token: body["token"].as_str().expect("a token").to_owned(),
            tenant: body["user"]["tenant_id"]
                .as_str()
                .expect("a tenant")
                .to_owned(),
        }
    }
}

/// Runs `test` on a PostgreSQL database of its own, created on the server `DATABASE_URL`
/// names and dropped afterwards, even when the test fails: `test` gets the administrative
/// URL (`DATABASE_URL`), the new database's URL and its name, and runs in a task of its
/// own, whose panic is raised again once the database is dropped.
pub async fn on_own_postgres<F, Fut>(test: &str, run: F)
where
    F: FnOnce(String, String, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("{test} needs DATABASE_URL=postgres://...; ./scripts/test.sh sets it when PostgreSQL answers")
    });
    let name = testkit::unique_namespace(test).replace('-', "_");
    let admin = fmpa_app::db::Db::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin.pool)
        .await
        .expect("create a test database");
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url.as_str(), String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    let url = format!("{server}/{name}{query}");
    let outcome = tokio::spawn(run(admin_url.clone(), url, name.clone())).await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin.pool)
        .await
        .expect("drop the test database");
    if let Err(failed) = outcome {
        std::panic::resume_unwind(failed.into_panic());
    }
}
