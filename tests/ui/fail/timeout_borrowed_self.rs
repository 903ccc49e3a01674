use cache_core::cached;

struct Repo;

impl Repo {
    // `&self` is borrowed too.
    #[cached(prefix = "fmpa", ttl = "5m", fail_safe = "1h", timeout = "100ms", key = tenant)]
    async fn list(&self, tenant: String) -> Result<Vec<u32>, String> {
        let _ = tenant;
        Ok(vec![])
    }
}

fn main() {}
