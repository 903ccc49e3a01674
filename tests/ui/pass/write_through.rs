use cache_core::{cached, invalidates, Cache};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Item {
    pub id: u64,
    pub title: String,
}

pub struct Repo {
    cache: Cache,
}

impl Repo {
    /// A read that writes may store their result under.
    #[cached(prefix = "items", ttl = "5m", key = tenant, id, tag(item = id), write_through = true, cache = self.cache)]
    pub async fn get(&self, tenant: &str, id: u64) -> Result<Option<Item>, String> {
        let _ = (tenant, id);
        Ok(None)
    }

    /// Through a method call, as the read would be called.
    #[invalidates("items", key = tenant, tag(list = tenant), write_through = self.get(tenant, id), cache = self.cache)]
    pub async fn rename(&self, tenant: &str, id: u64, title: String) -> Result<Option<Item>, String> {
        Ok(Some(Item { id, title }))
    }

    /// Through a path.
    #[invalidates("items", key = tenant, write_through = Self::get(self, tenant, id), cache = self.cache)]
    pub async fn retitle(&self, tenant: &str, id: u64) -> Result<Option<Item>, String> {
        let _ = tenant;
        Ok(Some(Item { id, title: "t".into() }))
    }
}

/// A free function on the installed cache, with `write_through = false` (no sibling).
#[cached(prefix = "counts", ttl = "1m", key = tenant, write_through = true)]
async fn count(tenant: &str) -> u64 {
    let _ = tenant;
    0
}

#[cached(prefix = "counts", name = "other", ttl = "1m", write_through = false)]
async fn other() -> u64 {
    0
}

#[invalidates("counts", key = tenant, write_through = count(tenant))]
async fn recount(tenant: &str) -> u64 {
    let _ = tenant;
    other().await
}

fn main() {}
