use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant)]
fn list(tenant: &str) -> Result<u32, ()> { let _ = tenant; Ok(1) }

fn main() {}
