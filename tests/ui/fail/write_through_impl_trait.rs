use cache_core::{cached, invalidates};

#[cached(prefix = "items", ttl = "5m", key = id, write_through = true)]
async fn get(id: u64) -> Option<String> {
    let _ = id;
    None
}

#[invalidates("items", key = id, write_through = get(id))]
async fn rename(id: u64) -> impl Sized {
    id
}

fn main() {}
