use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant)]
async fn list((tenant, page): (String, u32)) -> Result<u32, ()> { let _ = (tenant, page); Ok(1) }

fn main() {}
