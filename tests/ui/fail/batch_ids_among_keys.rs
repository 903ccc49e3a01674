use cache_core::cached;
use std::collections::HashMap;

// Each id is already the last key argument of its entry.
#[cached(prefix = "user", ttl = "5m", key = tenant, ids, batch = ids)]
async fn users(tenant: &str, ids: &[u64]) -> HashMap<u64, String> {
    ids.iter().map(|id| (*id, format!("{tenant}/{id}"))).collect()
}

fn main() {}
