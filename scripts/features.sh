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

# The declared floors hold, and the newest releases build without warnings: cache-core and
# its macros copied alone (no dev-dependencies) into a workspace of their own, resolved at
# each direct dependency's declared minimum (`-Z direct-minimal-versions`, on stable cargo
# through RUSTC_BOOTSTRAP) and built with each feature set; then resolved afresh at the
# newest compatible releases and built with every feature, warnings denied.
floors=$(mktemp -d)
trap 'rm -rf "$app" "$floors"' EXIT
tar -c Cargo.toml cache-core/Cargo.toml cache-core/src cache-macros/Cargo.toml cache-macros/src | tar -x -C "$floors"
python3 - "$floors" <<'PY'
import re, sys
root = sys.argv[1]
path = f"{root}/Cargo.toml"
text = open(path).read()
text = re.sub(r'members = \[.*?\]', 'members = ["cache-core", "cache-macros"]', text)
text = re.sub(r'default-members = \[.*?\]\n', '', text)
open(path, "w").write(text)
for crate in ("cache-core", "cache-macros"):
    path = f"{root}/{crate}/Cargo.toml"
    text = open(path).read()
    open(path, "w").write(text.split("[dev-dependencies]")[0])
PY
target="$PWD/target/floors"
echo "features: direct dependencies at their declared floors"
(cd "$floors" && RUSTC_BOOTSTRAP=1 cargo update -q -Z direct-minimal-versions)
for features in "" "tls,log,encryption" "tls-native,log,encryption" "tls-aws-lc" "metrics,msgpack"; do
  echo "features: floors, cache-core with ${features:-no feature}"
  (cd "$floors" && CARGO_TARGET_DIR="$target" RUSTFLAGS="-D warnings" \
    cargo check -q -p cache-core --no-default-features ${features:+--features "$features"})
done
echo "features: the newest compatible releases, every feature, warnings denied"
(cd "$floors" && cargo update -q && CARGO_TARGET_DIR="$target" RUSTFLAGS="-D warnings" \
  cargo check -q -p cache-core --all-features)
