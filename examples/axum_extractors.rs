//! The attributes in an axum application, with the usual extractors: `State`, `Path`,
//! `Query`, and an authenticated user from a request extension. The attributes sit on
//! the repository's functions (which return plain values, not `Json`); their keys come
//! from what the extractors gave (`auth.user_id()`, a destructured `Path(slug)`); a write
//! invalidates several targets, each with its own key.
//!
//! `cargo run -p examples --example axum_extractors` sends a few requests through the
//! router (no port is opened) and prints what the cache saw.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{Request, StatusCode, request::Parts};
use axum::routing::{get, post};
use axum::{Json, Router};
use cache_core::{Cache, cached, invalidates};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Article {
    slug: String,
    title: String,
    favorited: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FeedParams {
    page: u32,
}

/// The user an authentication layer put in the request (here: the `x-user` header).
#[derive(Debug, Clone)]
struct AuthUser {
    id: u64,
}

impl AuthUser {
    fn user_id(&self) -> u64 {
        self.id
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get("x-user")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .ok_or(StatusCode::UNAUTHORIZED)?;
        Ok(AuthUser { id })
    }
}

/// The rows, and favorites per user.
#[derive(Default)]
struct Db {
    titles: BTreeMap<String, String>,
    favorites: Vec<(u64, String)>,
}

/// The repository: reads cached per viewer, writes invalidating. No handler touches the
/// cache.
#[derive(Clone)]
struct Repo {
    db: Arc<Mutex<Db>>,
    cache: Cache,
}

impl Repo {
    /// An article as `auth` sees it; the viewer is the scope, the slug a tag that writes
    /// to the article name in every viewer's scope.
    #[cached(prefix = "article", ttl = "5m", key = auth.user_id(), slug, tag(article = slug), cache = self.cache)]
    async fn article(&self, auth: &AuthUser, slug: &str) -> Option<Article> {
        let db = self.db.lock().ok()?;
        let title = db.titles.get(slug)?.clone();
        let favorited = db.favorites.contains(&(auth.id, slug.to_owned()));
        Some(Article {
            slug: slug.to_owned(),
            title,
            favorited,
        })
    }

    /// A viewer's feed page; it depends on the articles it holds (from the result).
    #[cached(prefix = "feed", ttl = "5m", key = auth.user_id(), params.page, tag(article = |page: &Vec<Article>| page.iter().map(|a| a.slug.clone())), cache = self.cache)]
    async fn feed(&self, auth: &AuthUser, params: &FeedParams) -> Vec<Article> {
        let Ok(db) = self.db.lock() else {
            return Vec::new();
        };
        db.titles
            .iter()
            .skip(params.page as usize * 10)
            .take(10)
            .map(|(slug, title)| Article {
                slug: slug.clone(),
                title: title.clone(),
                favorited: db.favorites.contains(&(auth.id, slug.clone())),
            })
            .collect()
    }

    /// A favorite changes the article and the feeds holding it, for this viewer only: two
    /// targets, each with its key. `Ok(false)` (it existed) invalidates nothing.
    #[invalidates(
        target("article", key = auth.user_id(), tag(article = slug)),
        target("feed", key = auth.user_id(), tag(article = slug)),
        when = |created: &bool| *created,
        cache = self.cache
    )]
    async fn favorite(&self, auth: &AuthUser, slug: &str) -> Result<bool, String> {
        let mut db = self.db.lock().map_err(|e| e.to_string())?;
        let pair = (auth.id, slug.to_owned());
        if db.favorites.contains(&pair) {
            return Ok(false);
        }
        db.favorites.push(pair);
        Ok(true)
    }
}

// ----- handlers: extractors in, the repository's values out, wrapped in `Json` ---------

async fn get_article(
    State(repo): State<Repo>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<Article>, StatusCode> {
    repo.article(&auth, &slug)
        .await
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn get_feed(
    State(repo): State<Repo>,
    auth: AuthUser,
    Query(params): Query<FeedParams>,
) -> Json<Vec<Article>> {
    Json(repo.feed(&auth, &params).await)
}

async fn post_favorite(
    State(repo): State<Repo>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<bool>, StatusCode> {
    let created = repo
        .favorite(&auth, &slug)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(created))
}

#[tokio::main]
async fn main() {
    let cache = Cache::from_env().await;
    let mut db = Db::default();
    for slug in ["rust", "redis", "axum"] {
        db.titles.insert(slug.to_owned(), slug.to_uppercase());
    }
    let repo = Repo {
        db: Arc::new(Mutex::new(db)),
        cache: cache.clone(),
    };
    let app = Router::new()
        .route("/api/articles/{slug}", get(get_article))
        .route("/api/articles/{slug}/favorite", post(post_favorite))
        .route("/api/feed", get(get_feed))
        .with_state(repo);

    for (method, uri) in [
        ("GET", "/api/feed?page=0"),
        ("GET", "/api/articles/rust"),
        ("GET", "/api/articles/rust"),
        ("POST", "/api/articles/rust/favorite"),
        ("GET", "/api/articles/rust"),
        ("GET", "/api/feed?page=0"),
        ("POST", "/api/articles/rust/favorite"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-user", "7")
            .body(axum::body::Body::empty())
            .expect("a request");
        let response = app
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        println!("{method} {uri} -> {}", response.status());
    }
    let stats = cache.stats();
    for (prefix, names) in &stats.sites {
        for (name, site) in names {
            println!(
                "{prefix}/{name}: {} hits, {} misses, hit rate {:.0}%",
                site.hits,
                site.misses,
                site.hit_rate() * 100.0
            );
        }
    }
}

/// The example's cache sites agree (`cache_core::audit`): each read is invalidated by the
/// writes that change it, with the same scope types and tags.
#[cfg(test)]
#[test]
fn the_cache_sites_agree() {
    let audit = cache_core::audit();
    assert!(!audit.sites().is_empty());
    assert!(audit.findings().is_empty(), "{audit}");
}
