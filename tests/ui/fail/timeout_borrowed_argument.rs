use cache_core::cached;

// The reload of a soft timeout outlives the call: it cannot borrow the tenant.
#[cached(prefix = "fmpa", ttl = "5m", fail_safe = "1h", timeout = "100ms", key = tenant)]
async fn list(tenant: &str) -> Result<Vec<u32>, String> {
    let _ = tenant;
    Ok(vec![])
}

fn main() {}
