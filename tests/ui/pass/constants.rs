use cache_core::{cached, invalidates};
use std::time::Duration;

/// An application's own constants, as the seed app keeps them (its `prefix` and `ttl`).
mod app {
    pub mod prefix {
        pub const STATS: &str = "stats";
    }
    pub mod ttl {
        pub const STATS: std::time::Duration = std::time::Duration::from_secs(15 * 60);
    }
}

mod prefix {
    pub const FMPA: &str = "fmpa";
}

const LIST_SHORT: Duration = Duration::from_secs(5 * 60);

#[cached(prefix = prefix::FMPA, ttl = LIST_SHORT, key = tenant)]
async fn list(tenant: &str) -> Result<Vec<u32>, String> {
    let _ = tenant;
    Ok(vec![])
}

#[cached(prefix = app::prefix::STATS, ttl = app::ttl::STATS, key = tenant)]
async fn stats(tenant: &str) -> Result<u64, String> {
    let _ = tenant;
    Ok(0)
}

#[invalidates(prefix::FMPA, app::prefix::STATS, key = tenant)]
async fn create(tenant: &str) -> Result<(), String> {
    let _ = tenant;
    Ok(())
}

fn main() {}
