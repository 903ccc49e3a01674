use cache_core::cached;

#[derive(serde::Serialize, serde::Deserialize)]
struct Page {
    rows: Vec<String>,
}

#[cached(prefix = "page", ttl = "5m", l1 = "30s", key = tenant)]
async fn page(tenant: &str) -> Result<Page, String> {
    Ok(Page { rows: vec![tenant.to_owned()] })
}

fn main() {}
