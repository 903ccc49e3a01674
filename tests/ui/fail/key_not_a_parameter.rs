use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant_id)]
async fn list(tenant: &str, page: u32) -> Result<u32, ()> { let _ = (tenant, page); Ok(1) }

fn main() {}
