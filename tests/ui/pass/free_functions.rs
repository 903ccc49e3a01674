use cache_core::{cached, invalidates};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Filters {
    pub status: String,
    pub page: u32,
}

#[derive(Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<String>,
}

#[cached(prefix = "fmpa", ttl = "5m", key = tenant, filters)]
pub async fn list_fmpa(db: &str, tenant: &str, filters: &Filters) -> Result<Page, std::io::Error> {
    let _ = (db, tenant, filters);
    Ok(Page { items: vec![] })
}

#[invalidates("fmpa", key = tenant)]
pub async fn create_fmpa(db: &str, tenant: &str, title: String) -> Result<u64, std::io::Error> {
    let _ = (db, tenant, title);
    Ok(1)
}

fn main() {}
