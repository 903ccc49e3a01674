//! The `cache` program itself, on the Redis this run targets (one server, the private
//! Cluster or TLS, as `scripts/test.sh` runs it): configured by the environment as the
//! library is, exit 0 when done, 1 when `doctor` finds a problem, 2 when a command
//! cannot run (and says why).

use cache_core::__private;
use std::process::{Command, Output};
use std::time::Duration;
use testkit::Target;

/// Runs `cache <args>` on `namespace` of this run's target.
fn cache(namespace: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cache"));
    for name in [
        "REDIS_URL",
        "REDIS_CLUSTER_URLS",
        "REDIS_TLS_CA_FILE",
        "CACHE_ENCRYPTION_KEYS",
    ] {
        command.env_remove(name);
    }
    command
        .envs(Target::from_env().env_vars())
        .env("CACHE_NAMESPACE", namespace)
        .args(args)
        .output()
        .expect("the cache program runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_exits_zero_on_a_healthy_fleet_and_one_on_a_disagreement() {
    let scoped = testkit::redis_cache("cli_doctor").await;
    let healthy = cache(scoped.namespace(), &["doctor"]);
    assert_eq!(
        healthy.status.code(),
        Some(0),
        "{}{}",
        text(&healthy.stdout),
        text(&healthy.stderr)
    );
    let out = text(&healthy.stdout);
    for check in ["redis", "memory", "latency", "backplane", "fleet", "keys"] {
        assert!(out.contains(check), "no {check} check: {out}");
    }
    if matches!(Target::from_env(), Target::Cluster(_)) {
        assert!(
            out.contains("16384 of 16384") || out.contains("cluster_state ok"),
            "{out}"
        );
    }
    // A peer of another key format joins: a problem, named.
    let peer =
        serde_json::json!({"id": "older", "process": "pid 7 on elsewhere", "key_format": "c3"});
    __private::raw::publish_manifest(
        &scoped.cache,
        "older",
        &peer.to_string(),
        Duration::from_secs(60),
    )
    .await;
    let sick = cache(scoped.namespace(), &["doctor", "--json"]);
    assert_eq!(
        sick.status.code(),
        Some(1),
        "{}{}",
        text(&sick.stdout),
        text(&sick.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&sick.stdout).expect("JSON");
    assert_eq!(report["worst"], "problem");
    assert!(text(&sick.stdout).contains("c3"), "{report:#}");
}

#[test]
fn a_command_that_cannot_run_exits_two_and_says_why() {
    let namespace = testkit::unique_namespace("cli_misuse");
    let vague = cache(&namespace, &["invalidate", "fmpa"]);
    assert_eq!(vague.status.code(), Some(2));
    assert!(
        text(&vague.stderr).contains("name a SCOPE"),
        "{}",
        text(&vague.stderr)
    );
    let missing = cache(&namespace, &["get", "nothing-here"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("cache keys PREFIX"),
        "{}",
        text(&missing.stderr)
    );
    let nowhere = Command::new(env!("CARGO_BIN_EXE_cache"))
        .env_remove("REDIS_URL")
        .env_remove("REDIS_CLUSTER_URLS")
        .arg("stats")
        .output()
        .expect("runs");
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(
        text(&nowhere.stderr).contains("REDIS_URL"),
        "{}",
        text(&nowhere.stderr)
    );
    let bad_keys = Command::new(env!("CARGO_BIN_EXE_cache"))
        .envs(Target::from_env().env_vars())
        .env("CACHE_ENCRYPTION_KEYS", "not a key")
        .arg("stats")
        .output()
        .expect("runs");
    assert_eq!(bad_keys.status.code(), Some(2));
    assert!(
        text(&bad_keys.stderr).contains("encryption keys"),
        "{}",
        text(&bad_keys.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_all_asks_first() {
    let scoped = testkit::redis_cache("cli_all").await;
    // No confirmation on stdin (closed): nothing is invalidated.
    let refused = cache(scoped.namespace(), &["invalidate", "fmpa", "--all"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stdout));
    assert!(text(&refused.stderr).contains("not confirmed"));
    let done = cache(
        scoped.namespace(),
        &["invalidate", "fmpa", "--all", "--yes"],
    );
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    assert!(text(&done.stdout).contains("every entry"));
}
