use cache_core::{cached, invalidates};

#[cached(prefix = "items", ttl = "5m", key = id)]
async fn get(id: u64) -> Option<String> {
    let _ = id;
    None
}

// `get` lacks `write_through = true`: it has no write-through sibling to call.
#[invalidates("items", key = id, write_through = get(id))]
async fn rename(id: u64) -> Option<String> {
    let _ = id;
    None
}

fn main() {}
