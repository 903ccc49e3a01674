use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", prefix = "formation")]
async fn list(tenant: &str) -> Result<u32, ()> { let _ = tenant; Ok(1) }

fn main() {}
