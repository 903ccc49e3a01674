use cache_core::cached;

// `T` could be a `Result` at some call sites: whether an `Err` would be cached cannot be
// told where the attribute expands.
#[cached(prefix = "generic", ttl = "1m")]
async fn load<T: serde::Serialize + serde::de::DeserializeOwned + Default>() -> T {
    T::default()
}

fn main() {}
