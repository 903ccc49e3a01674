use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant.parse::<u32>()?)]
async fn list(tenant: &str) -> Result<u32, std::num::ParseIntError> {
    let _ = tenant;
    Ok(1)
}

fn main() {}
