use cache_core::cached;

#[cached(prefix = "user", ttl = "30m", ttl_only = "yes", key = tenant)]
async fn profile(tenant: &str) -> Option<String> {
    Some(tenant.to_owned())
}

fn main() {}
