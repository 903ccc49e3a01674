use cache_core::{cached, invalidates};

struct Repo;

impl Repo {
    #[cached(prefix = "items", ttl = "5m", key = id)]
    async fn get(&self, id: u64) -> Option<String> {
        let _ = id;
        None
    }

    #[cached(prefix = "items", ttl = "5m", key = id, name = "find")]
    async fn find(id: u64) -> Option<String> {
        let _ = id;
        None
    }

    // `get` lacks `write_through = true`: the error names it, on the call.
    #[invalidates("items", key = id, write_through = self.get(id))]
    async fn rename(&self, id: u64) -> Option<String> {
        let _ = id;
        None
    }

    // The same for an associated function.
    #[invalidates("items", key = id, write_through = Self::find(id))]
    async fn retitle(id: u64) -> Option<String> {
        let _ = id;
        None
    }
}

fn main() {}
