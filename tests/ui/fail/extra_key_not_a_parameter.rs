use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant, filter)]
async fn list(tenant: &str, filters: u32) -> Result<u32, ()> { let _ = (tenant, filters); Ok(1) }

fn main() {}
