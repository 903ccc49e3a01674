use cache_core::cached;

#[cached(prefix = "page", ttl = "5m", l1 = "30s", key = tenant, tag(item = |ids: &Vec<u32>| ids.clone()))]
async fn page(tenant: &str) -> Vec<u32> {
    vec![tenant.len() as u32]
}

fn main() {}
