use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant, refresh = 0.8, tag(item = |ids: &Vec<u32>| ids.clone()))]
async fn list(tenant: &str) -> Result<Vec<u32>, String> {
    let _ = tenant;
    Ok(vec![])
}

fn main() {}
