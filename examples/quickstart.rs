//! The quickstart: `cargo run --example quickstart`.
//!
//! Uses Redis when `REDIS_URL` is set, the in-process memory store otherwise.
fn main() {}
