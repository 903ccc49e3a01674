use cache_core::cached;

// cache-core without `encryption` cannot seal: this site would never be cached.
#[cached(prefix = "session", ttl = "1h", key = sid, sensitive = true)]
async fn session(sid: &str) -> Option<String> {
    Some(sid.to_owned())
}

fn main() {}
