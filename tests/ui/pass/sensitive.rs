//! `sensitive = true`: the value sealed and the key arguments hashed (its prefix declared
//! on the cache with `sensitive_prefix`), beside `l1`.
use cache_core::cached;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Profile {
    email: String,
}

#[cached(prefix = "user", ttl = "30m", sensitive = true, key = tenant, user_id)]
async fn profile(tenant: &str, user_id: i64) -> Option<Profile> {
    Some(Profile { email: format!("{user_id}@{tenant}") })
}

#[cached(prefix = "session", ttl = "1h", l1 = "1m", sensitive = true, key = token)]
async fn session(token: &str) -> Result<Profile, String> {
    Ok(Profile { email: token.to_owned() })
}

fn main() {}
