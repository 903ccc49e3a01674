use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant, tag(status = a), tag(status = b))]
async fn list(tenant: &str, a: Option<String>, b: Option<String>) -> Vec<String> {
    vec![tenant.to_owned(), format!("{a:?}{b:?}")]
}

fn main() {}
