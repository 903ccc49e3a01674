use cache_core::cached;
use serde::Serialize;

#[cached(prefix = "gen", ttl = "1m", key = id)]
async fn generic<T: Serialize + Send>(id: T, label: impl AsRef<str>) -> String {
    label.as_ref().to_owned()
}

#[cached(prefix = "gen", ttl = "1m", key = id, tags)]
async fn by_value(id: u64, tags: Vec<String>, mut scratch: Vec<u8>) -> Vec<String> {
    scratch.push(1);
    tags
}

#[cached(prefix = "gen", ttl = "1m", key = key, cache, result)]
async fn clashing_names(key: &str, cache: u8, result: bool) -> Option<String> {
    let _ = (cache, result);
    Some(key.to_owned())
}

fn main() {
    let _ = generic(1u32, "label");
}
