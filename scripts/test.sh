#!/usr/bin/env bash
# Runs the whole test suite against a real Redis, then the semantics and attribute suites
# again on a private Redis Cluster and a private TLS server.
#
# Redis: $REDIS_URL if it answers, else 127.0.0.1:6379 if it answers, else a private
# redis-server started here on a free port (and stopped on exit). The fault tests also
# start their own redis-server processes, so the binary must exist: it is installed from
# Debian's package when missing and this script may (root, or passwordless sudo).
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test.sh: %s\n' "$*" >&2; }

# PING host port -> success when a Redis answers (+PONG, or NOAUTH: up, wants a password).
redis_answers() {
  local host=$1 port=$2 reply=""
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3 || true
  exec 3<&- 3>&-
  [[ $reply == +PONG* || $reply == -NOAUTH* ]]
}

# host and port of a redis:// URL (defaults 127.0.0.1:6379).
url_host_port() {
  local rest=${1#*://}
  rest=${rest##*@}
  rest=${rest%%/*}
  local host=${rest%%:*} port=6379
  [[ $rest == *:* ]] && port=${rest##*:}
  printf '%s %s\n' "${host:-127.0.0.1}" "$port"
}

ensure_redis_server_binary() {
  command -v redis-server >/dev/null && return 0
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      say "redis-server is not installed and this script cannot install it (not root, no passwordless sudo)."
      say "Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) and run again."
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    say "redis-server is not installed and there is no apt-get here: install Redis 7 and run again."
    exit 1
  fi
  say "installing redis-server (Debian package)..."
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
  command -v redis-server >/dev/null || { say "installing redis-server failed"; exit 1; }
}

ensure_redis_server_binary
# The TLS tests make their certificates with the openssl command.
if ! command -v openssl >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing openssl (Debian package) for the TLS tests..."
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  fi
  command -v openssl >/dev/null || { say "the TLS tests need the openssl command: install it and run again"; exit 1; }
fi

url=""
if [[ -n ${REDIS_URL:-} ]]; then
  read -r host port < <(url_host_port "$REDIS_URL")
  if redis_answers "$host" "$port"; then url=$REDIS_URL; else
    say "REDIS_URL=$REDIS_URL does not answer; looking for another Redis"
  fi
fi
if [[ -z $url ]] && redis_answers 127.0.0.1 6379; then
  url="redis://127.0.0.1:6379"
fi
if [[ -z $url ]]; then
  port=""
  for candidate in $(seq 16379 16479); do
    if ! { (exec 3<>"/dev/tcp/127.0.0.1/$candidate"); } 2>/dev/null; then port=$candidate; break; fi
  done
  [[ -n $port ]] || { say "no free port for a private redis-server"; exit 1; }
  dir=$(mktemp -d)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" --daemonize no &
  redis_pid=$!
  trap 'kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
  for _ in $(seq 1 100); do redis_answers 127.0.0.1 "$port" && break; sleep 0.05; done
  redis_answers 127.0.0.1 "$port" || { say "the private redis-server did not start (log: $dir/redis.log)"; exit 1; }
  url="redis://127.0.0.1:$port"
  say "started a private redis-server at $url"
fi

export REDIS_URL=$url
say "testing against $REDIS_URL"

# PostgreSQL, for the app's end-to-end test on it: $DATABASE_URL, else the local server
# if it answers. Without one that test is not run (and this says so); with
# REQUIRE_POSTGRES=1 (CI) a missing PostgreSQL is an error.
skip=()
if [[ -z ${DATABASE_URL:-} ]] && { (exec 3<>/dev/tcp/127.0.0.1/5432); } 2>/dev/null; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
fi
if [[ -n ${DATABASE_URL:-} ]]; then
  say "PostgreSQL for the app's e2e test: ${DATABASE_URL%%\?*}"
elif [[ ${REQUIRE_POSTGRES:-0} == 1 ]]; then
  say "REQUIRE_POSTGRES=1 but no PostgreSQL answers at 127.0.0.1:5432 and DATABASE_URL is unset"
  exit 1
else
  say "NOT RUN: e2e_postgres_on_redis, postgres_outage (no PostgreSQL at 127.0.0.1:5432; set DATABASE_URL=postgres://... to run them)"
  skip=(-- --skip e2e_postgres_on_redis --skip postgres_outage)
fi

# Run, then close with one plain line of totals over every test binary.
log=$(mktemp)
set +e
cargo test --workspace "$@" "${skip[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# The suites of the cache semantics and of the attributes again, on a Redis Cluster
# (3 masters, 3 replicas) and on a TLS server, both private to this run: test-services
# starts them, prints their settings and stops them when this script closes its input.
if [[ $status -eq 0 ]]; then
  cargo build -q -p testkit --bin test-services
  coproc SERVICES { ./target/debug/test-services; }
  ready=0
  while IFS= read -r line <&"${SERVICES[0]}"; do
    if [[ $line == ready ]]; then ready=1; break; fi
    export "${line?}"
  done
  if [[ $ready -ne 1 ]]; then
    say "could not start the private Redis Cluster and TLS server (needs redis-server, redis-cli, openssl)"
    status=1
  fi
  for backend in cluster tls; do
    [[ $status -eq 0 ]] || break
    say "the semantics, l1, batch, sensitive, fleet, lease, inspect, attribute and command-line suites on: $backend"
    for suite in "-p cache-core --test semantics" "-p cache-core --test l1" "-p cache-core --test batch" "-p cache-core --test sensitive" "-p cache-core --test fleet" "-p cache-core --test lease" "-p cache-core --test inspect" "-p cache-tests --test attributes" "-p cache-cli --test binary" "-p fmpa-app --test cli"; do
      set +e
      # shellcheck disable=SC2086 # the suite is two words on purpose
      CACHE_TEST_BACKEND=$backend cargo test $suite 2>&1 | tee -a "$log"
      suite_status=${PIPESTATUS[0]}
      set -e
      [[ $suite_status -eq 0 ]] || status=$suite_status
    done
  done
  exec {SERVICES[1]}>&-
  wait "$SERVICES_PID" 2>/dev/null || true
fi
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
rm -f "$log"
echo "tests: $passed passed, $failed failed"
exit "$status"
