use cache_core::cached;

type MyResult = Result<u32, String>;
type IoResult<T> = std::io::Result<T>;

#[cached(prefix = "alias", ttl = "1m", result = true)]
async fn aliased() -> MyResult {
    Ok(1)
}

#[cached(prefix = "alias", ttl = "1m")]
async fn io() -> std::io::Result<u32> {
    Ok(1)
}

#[cached(prefix = "alias", ttl = "1m")]
async fn generic_alias() -> IoResult<Vec<u8>> {
    Ok(vec![])
}

type Page = Result<Vec<String>, String>;

#[cached(prefix = "alias", ttl = "1m", result = true)]
async fn named_otherwise() -> Page {
    Ok(vec![])
}

/// `result = false`: a type named like a Result that is a plain value.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SearchResult {
    pub hits: u32,
}

#[cached(prefix = "alias", ttl = "1m", result = false)]
async fn search() -> SearchResult {
    SearchResult { hits: 0 }
}


/// An alias of `Result` whose error is not serde, without `result = true`: the mode comes
/// from the concrete type, so this compiles and never caches an `Err`.
pub struct ApiError;
type Fallible<T> = Result<T, ApiError>;

#[cached(prefix = "alias", ttl = "1m")]
async fn fallible() -> Fallible<u32> {
    Ok(1)
}

type Maybe<T> = Option<T>;

#[cached(prefix = "alias", ttl = "1m")]
async fn maybe() -> Maybe<u32> {
    None
}

/// A type parameter is fine once `result` says what it is.
#[cached(prefix = "alias", ttl = "1m", result = false)]
async fn generic<T: serde::Serialize + serde::de::DeserializeOwned + Default>() -> T {
    T::default()
}

fn main() {}
