use cache_core::cached;

// An `Option`'s `None` cannot say the reload failed: fail-safe needs a `Result`.
#[cached(prefix = "user", ttl = "5m", fail_safe = "1h", key = id)]
async fn find(id: u64) -> Option<String> {
    Some(id.to_string())
}

fn main() {}
