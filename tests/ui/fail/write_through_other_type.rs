use cache_core::{cached, invalidates};

#[cached(prefix = "items", ttl = "5m", key = id, write_through = true)]
async fn get(id: u64) -> Option<String> {
    let _ = id;
    None
}

// The write returns another type than the read: nothing to store.
#[invalidates("items", key = id, write_through = get(id))]
async fn rename(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
