use cache_core::cached;

// The tier would keep a value longer than its entry lives.
#[cached(prefix = "page", ttl = "5m", l1 = "2h", key = tenant)]
async fn page(tenant: &str) -> Vec<u32> {
    vec![tenant.len() as u32]
}

fn main() {}
