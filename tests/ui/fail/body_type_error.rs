use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m")]
async fn list() -> Result<u32, String> {
    Ok("not a number")
}

fn main() {}
