use cache_core::cached;
use std::collections::HashMap;

// Fail-safe acts on one entry at a time: it belongs on the single-id read.
#[cached(prefix = "user", ttl = "5m", fail_safe = "1h", key = tenant, batch = ids)]
async fn users(tenant: &str, ids: &[u64]) -> Result<HashMap<u64, String>, String> {
    Ok(ids.iter().map(|id| (*id, format!("{tenant}/{id}"))).collect())
}

fn main() {}
