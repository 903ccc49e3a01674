use cache_core::cached;
use std::collections::HashMap;

// `batch` names the parameter that holds the ids.
#[cached(prefix = "user", ttl = "5m", key = tenant, batch = id_list)]
async fn users(tenant: &str, ids: &[u64]) -> HashMap<u64, String> {
    ids.iter().map(|id| (*id, format!("{tenant}/{id}"))).collect()
}

fn main() {}
