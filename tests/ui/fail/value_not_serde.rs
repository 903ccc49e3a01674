use cache_core::cached;

pub struct Page {
    pub items: Vec<String>,
}

#[cached(prefix = "fmpa", ttl = "5m")]
async fn list() -> Page {
    Page { items: vec![] }
}

fn main() {}
