use cache_core::{cached, invalidates};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Filters {
    pub status: Option<String>,
    pub page: u32,
}

/// A list depends on its status filter (`None`: every status).
#[cached(prefix = "fmpa", ttl = "5m", key = tenant, filters, tag(status = filters.status))]
async fn list(tenant: &str, filters: &Filters) -> Result<Vec<u32>, String> {
    let _ = (tenant, filters);
    Ok(vec![])
}

/// An item depends on its id.
#[cached(prefix = "fmpa", ttl = "5m", key = tenant, id, tag(item = id))]
async fn item(tenant: &str, id: u64) -> Option<String> {
    let _ = (tenant, id);
    None
}

/// A status change: the item, and both statuses' lists, in one tenant.
#[invalidates("fmpa", key = tenant, tag(item = id, status = from, status = to))]
async fn set_status(tenant: &str, id: u64, from: String, to: String) -> Result<(), String> {
    let _ = (tenant, id, from, to);
    Ok(())
}

/// An item of every tenant (no `key`: every scope).
#[invalidates("fmpa", tag(item = id))]
async fn touch(id: u64) {
    let _ = id;
}

fn main() {}
