use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", version = "2")]
async fn list() -> Result<u32, ()> { Ok(1) }

fn main() {}
