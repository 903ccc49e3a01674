use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant, unless = true)]
async fn list(tenant: &str) -> Result<Vec<u32>, String> {
    let _ = tenant;
    Ok(vec![])
}

fn main() {}
