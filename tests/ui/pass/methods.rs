use cache_core::{Cache, cached, invalidates};

pub struct Repo {
    pub cache: Cache,
    pub rows: Vec<u32>,
}

impl Repo {
    #[cached(prefix = "fmpa", ttl = "5m", key = tenant, cache = self.cache)]
    pub async fn count(&self, tenant: &str) -> Result<usize, String> {
        let _ = tenant;
        Ok(self.rows.len())
    }

    #[cached(prefix = "fmpa", ttl = "5m", key = tenant, cache = self.cache)]
    pub async fn count_mut(&mut self, tenant: &str) -> Result<usize, String> {
        let _ = tenant;
        self.rows.push(1);
        Ok(self.rows.len())
    }

    #[invalidates("fmpa", key = tenant, cache = self.cache)]
    pub async fn add(&mut self, tenant: &str, row: u32) -> Result<(), String> {
        let _ = tenant;
        self.rows.push(row);
        Ok(())
    }

    #[cached(prefix = "fmpa", ttl = "5m")]
    pub async fn consume(self) -> Vec<u32> {
        self.rows
    }
}

fn main() {}
