use cache_core::{Cache, cached, invalidates};
use serde::Serialize;

#[derive(Serialize)]
pub struct User {
    pub tenant_id: String,
    pub id: u64,
}

pub struct NewFmpa {
    pub tenant: String,
}

#[cached(prefix = "fmpa", ttl = "5m", key = user.tenant_id, user.id)]
async fn mine(user: &User) -> Result<Vec<u64>, String> {
    Ok(vec![user.id])
}

#[invalidates("fmpa", key = input.tenant)]
async fn create(input: NewFmpa) -> Result<(), String> {
    let _ = input.tenant;
    Ok(())
}

pub struct Scoped {
    pub tenant: String,
    pub cache: std::sync::Arc<Cache>,
}

impl Scoped {
    #[cached(prefix = "fmpa", ttl = "5m", key = self.tenant, cache = self.cache)]
    async fn list(&self) -> Result<Vec<u64>, String> {
        Ok(vec![])
    }
}

fn main() {}
