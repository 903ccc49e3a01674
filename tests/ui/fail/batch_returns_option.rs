use cache_core::cached;
use std::collections::HashMap;

// A batch returns its values by id: a map, not an `Option`.
#[cached(prefix = "user", ttl = "5m", key = tenant, batch = ids)]
async fn users(tenant: &str, ids: &[u64]) -> Option<HashMap<u64, String>> {
    Some(ids.iter().map(|id| (*id, format!("{tenant}/{id}"))).collect())
}

fn main() {}
