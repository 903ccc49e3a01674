use cache_core::cached;

#[cached(prefix = "page", ttl = "5m", l1 = "soon", key = tenant)]
async fn page(tenant: &str) -> Vec<u32> {
    vec![tenant.len() as u32]
}

fn main() {}
