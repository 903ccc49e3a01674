//! Keys in axum's style: names bound by destructuring patterns, and any expression of the
//! parameters (evaluated once, before the body, by reference).
use cache_core::{cached, invalidates};

pub struct Path<T>(pub T);
pub struct Query<T>(pub T);

#[derive(serde::Serialize)]
pub struct Params {
    pub page: u32,
}

pub struct AuthUser {
    id: i64,
}

impl AuthUser {
    pub fn user_id(&self) -> i64 {
        self.id
    }
}

#[cached(prefix = "articles", ttl = "5m", key = auth.user_id(), slug, params.page)]
async fn article(auth: &AuthUser, Path(slug): Path<String>, Query(params): Query<Params>) -> Result<String, String> {
    Ok(slug)
}

#[cached(prefix = "articles", name = "feed", ttl = "5m", key = format!("user-{}", auth.user_id()), (page, size).0)]
async fn feed(auth: &AuthUser, (page, size): (u32, u32)) -> Option<Vec<u32>> {
    let _ = (auth.id, page, size);
    None
}

#[invalidates("articles", key = auth.user_id(), tag(article = slug.as_str()))]
async fn favorite(auth: &AuthUser, Path(slug): Path<String>) -> Result<(), String> {
    let _ = slug;
    Ok(())
}

fn main() {}
