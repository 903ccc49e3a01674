use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m")]
async fn list() -> impl serde::Serialize { 1u32 }

fn main() {}
