use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant, tag(item = |ids: &Vec<u32>| ids.len()))]
async fn list(tenant: &str) -> Vec<u32> {
    let _ = tenant;
    vec![]
}

fn main() {}
