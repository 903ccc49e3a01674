use cache_core::cached;

// A lease time is written as `ttl` is: a humantime string or a constant path.
#[cached(prefix = "stats", ttl = "15m", lease = "five seconds", key = tenant)]
async fn dashboard(tenant: &str) -> Result<u32, String> {
    let _ = tenant;
    Ok(1)
}

fn main() {}
