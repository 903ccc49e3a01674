use cache_core::cached;
use std::time::Duration;

const GRACE: Duration = Duration::from_secs(3600);

#[cached(prefix = "fmpa", ttl = "5m", fail_safe = "1h", jitter = 0.1, refresh = 0.8, lease = "5s", key = tenant)]
async fn list(tenant: &str) -> Result<Vec<u32>, String> {
    let _ = tenant;
    Ok(vec![])
}

// A constant, and an alias of `Result` said to be one.
type Fallible<T> = Result<T, std::io::Error>;

#[cached(prefix = "fmpa", name = "item", ttl = "5m", fail_safe = GRACE, result = true, key = tenant, id)]
async fn item(tenant: &str, id: u64) -> Fallible<String> {
    Ok(format!("{tenant}/{id}"))
}


// A soft timeout: owned arguments (the reload may finish after the caller is answered).
#[cached(prefix = "fmpa", name = "slow", ttl = "5m", fail_safe = "1h", timeout = "100ms", lease = "5s", key = tenant)]
async fn slow(tenant: String, db: std::sync::Arc<Vec<u32>>, limit: Option<&'static str>) -> Result<Vec<u32>, String> {
    let _ = (tenant, limit);
    Ok(db.to_vec())
}

fn main() {}
