use cache_core::cached;

const FIVE_MINUTES: u64 = 300;

#[cached(prefix = "fmpa", ttl = FIVE_MINUTES)]
async fn list() -> Result<u32, ()> { Ok(1) }

fn main() {}
