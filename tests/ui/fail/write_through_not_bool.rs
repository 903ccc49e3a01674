use cache_core::cached;

#[cached(prefix = "items", ttl = "5m", key = id, write_through = "yes")]
async fn get(id: u64) -> Option<String> {
    let _ = id;
    None
}

fn main() {}
