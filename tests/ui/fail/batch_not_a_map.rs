use cache_core::cached;

// A batch's output holds `(id, value)` pairs: a `Vec<String>` does not say which is which.
#[cached(prefix = "user", ttl = "5m", key = tenant, batch = ids)]
async fn users(tenant: &str, ids: &[u64]) -> Vec<String> {
    ids.iter().map(|id| format!("{tenant}/{id}")).collect()
}

fn main() {}
