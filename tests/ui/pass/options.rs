use cache_core::cached;

#[cached(prefix = "user", ttl = "30m", key = id, cache_none = true)]
async fn find_user(id: u64) -> Option<String> {
    (id == 1).then(|| "ada".to_owned())
}

#[cached(prefix = "user", ttl = "1h30m", key = id, name = "profile", version = 2)]
async fn profile(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[cached(prefix = "user", ttl = "250ms", key = id, result = false)]
async fn plain(id: u64) -> u64 {
    id
}

fn main() {}
