use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant, write_through = true, unless = |rows: &Vec<u32>| rows.is_empty())]
async fn list(tenant: &str) -> Result<Vec<u32>, String> {
    let _ = tenant;
    Ok(vec![])
}

fn main() {}
