use cache_core::cached;

pub struct Page {
    pub items: Vec<String>,
}

#[cached(prefix = "fmpa", ttl = "5m", key = tenant)]
async fn list(tenant: &str) -> Result<Page, std::io::Error> {
    Ok(Page { items: vec![tenant.to_owned()] })
}

fn main() {}
