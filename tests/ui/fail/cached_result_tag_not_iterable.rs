use cache_core::cached;

// A result tag lists the values the entry depends on: an iterable (an `Option` for one).
#[cached(prefix = "fmpa", ttl = "5m", key = tenant, tag(item = |ids: &Vec<u32>| ids.len() as u32))]
async fn list(tenant: &str) -> Vec<u32> {
    let _ = tenant;
    vec![]
}

fn main() {}
