//! `l1`: a duration string or a `Duration` constant; values that are `Clone`.
use cache_core::cached;
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(10);

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Page {
    rows: Vec<String>,
}

#[cached(prefix = "page", ttl = "5m", l1 = "30s", key = tenant)]
async fn page(tenant: &str) -> Result<Page, String> {
    Ok(Page { rows: vec![tenant.to_owned()] })
}

#[cached(prefix = "count", ttl = "5m", l1 = SHORT, key = tenant, tag(status = status))]
async fn count(tenant: &str, status: Option<&str>) -> Option<u64> {
    Some(tenant.len() as u64 + status.map_or(0, str::len) as u64)
}

fn main() {}
