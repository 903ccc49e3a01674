use cache_core::cached;

#[cached(prefix = "fmpa", ttl = "5m")]
struct NotAFunction;

fn main() {}
