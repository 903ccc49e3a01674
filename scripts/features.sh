#!/usr/bin/env bash
# cache-core under each of its features alone (the lints with warnings as errors), then
# an application that depends on cache-core with a non-default TLS backend (and
# `encryption`, for its sensitive sites) beside argon2 0.3, whose password-hash pins `subtle` below 2.5 (rustls needs 2.5 or later):
# it must resolve and build, also with the oldest tokio declared. Needs crates.io for
# the second part.
set -euo pipefail
cd "$(dirname "$0")/.."

for features in "" tls tls-aws-lc tls-native log metrics msgpack encryption; do
  echo "features: cache-core with ${features:-no feature}"
  cargo clippy -q -p cache-core --no-default-features ${features:+--features "$features"} -- -D warnings
done

app=$(mktemp -d)
trap 'rm -rf "$app"' EXIT
mkdir "$app/src"
# A sensitive site: it compiles only with `encryption`, which must resolve here too.
cat >"$app/src/main.rs" <<'RS'
#[cache_core::cached(prefix = "session", ttl = "1h", key = sid, sensitive = true)]
async fn session(sid: &str) -> Option<String> {
    Some(sid.to_owned())
}

fn main() {
    let _ = cache_core::Cache::builder();
    let _ = session("sid");
}
RS
cat >"$app/Cargo.toml" <<TOML
[package]
name = "beside-argon2"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
cache-core = { path = "$PWD/cache-core", default-features = false, features = ["tls-native", "log", "encryption"] }
argon2 = "0.3"

[workspace]
TOML
echo "features: cache-core with tls-native and encryption beside argon2 0.3"
CARGO_TARGET_DIR="$PWD/target/beside-argon2" cargo check -q --manifest-path "$app/Cargo.toml"
if cargo tree -q --manifest-path "$app/Cargo.toml" -i rustls >/dev/null 2>&1; then
  echo "features: rustls is in the tree of a tls-native build" >&2
  exit 1
fi

# The oldest tokio the manifest declares: cache-core builds with exactly it.
echo "features: cache-core with tokio 1.51.0"
cargo update -q --manifest-path "$app/Cargo.toml" -p tokio --precise 1.51.0
CARGO_TARGET_DIR="$PWD/target/beside-argon2" cargo check -q --manifest-path "$app/Cargo.toml"
