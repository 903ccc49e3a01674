use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m")]
async fn list() {}

fn main() {}
