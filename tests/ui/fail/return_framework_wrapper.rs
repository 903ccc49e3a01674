use cache_core::cached;

/// A response wrapper of a web framework, as axum's `Json<T>`: not serde itself.
pub struct Json<T>(pub T);

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Tags {
    pub tags: Vec<String>,
}

#[cached(prefix = "tags", ttl = "5m")]
async fn tags() -> Result<Json<Tags>, String> {
    Ok(Json(Tags { tags: vec![] }))
}

fn main() {}
