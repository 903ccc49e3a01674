use cache_core::cached;

// No fail-safe value to answer with: a plain value cannot say a reload failed.
#[cached(prefix = "fmpa", ttl = "5m", timeout = "100ms", key = tenant)]
async fn list(tenant: String) -> Vec<u32> {
    let _ = tenant;
    vec![]
}

fn main() {}
