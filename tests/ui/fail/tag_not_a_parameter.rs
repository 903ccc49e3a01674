use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m", key = tenant, tag(item = item_id))]
async fn item(tenant: &str, id: u32) -> Option<String> {
    Some(format!("{tenant}:{id}"))
}

fn main() {}
