use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = _)]
async fn list(_: &str) -> Result<u32, ()> { Ok(1) }

fn main() {}
