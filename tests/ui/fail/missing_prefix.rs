use cache_core::cached;

#[cached(ttl = "5m")]
async fn list(tenant: &str) -> Result<u32, ()> { let _ = tenant; Ok(1) }

fn main() {}
