use cache_core::{cached, invalidates};

mod prefix {
    pub const FMPA: &str = "fmpa";
}

#[cached(prefix = prefix::FMPA, ttl = cache_core::ttl::LIST_SHORT, key = tenant)]
async fn list(tenant: &str) -> Result<Vec<u32>, String> {
    let _ = tenant;
    Ok(vec![])
}

#[cached(prefix = cache_core::prefix::STATS, ttl = cache_core::ttl::STATS, key = tenant)]
async fn stats(tenant: &str) -> Result<u64, String> {
    let _ = tenant;
    Ok(0)
}

#[invalidates(prefix::FMPA, cache_core::prefix::STATS, key = tenant)]
async fn create(tenant: &str) -> Result<(), String> {
    let _ = tenant;
    Ok(())
}

fn main() {}
