//! The `cache` command line on the app's data, as an operator's session runs it: the app
//! on SQLite and the Redis this run targets, a logged-in user reading lists, then
//! `stats`, `top`, `keys fmpa --scope tenant-1`, `get`, `invalidate` and `doctor`.

mod common;

use cache_cli::{Args, Outcome};
use clap::Parser;
use common::Api;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Runs `cache <line>` on `cache`; its outcome and output.
async fn cache_cmd(cache: &cache_core::Cache, line: &str) -> (Outcome, String) {
    let args = Args::try_parse_from(std::iter::once("cache").chain(line.split(' ')))
        .unwrap_or_else(|e| panic!("`cache {line}` parses: {e}"));
    let mut out = Vec::new();
    let outcome = cache_cli::run(cache, &args, &mut out)
        .await
        .unwrap_or_else(|failure| panic!("`cache {line}` failed: {failure}"));
    (outcome, String::from_utf8(out).expect("UTF-8 output"))
}

async fn json(cache: &cache_core::Cache, line: &str) -> Value {
    let (_, out) = cache_cmd(cache, &format!("{line} --json")).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("`cache {line} --json`: {e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_session_on_the_app() {
    let period = Duration::from_millis(100);
    let scoped = testkit::redis_cache_with("app_cli", |builder| {
        common::sealed(builder).fleet_period(period)
    })
    .await;
    let dir = std::env::temp_dir().join(testkit::unique_namespace("fmpa-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let running = fmpa_app::start(&common::config(&url), scoped.cache.clone())
        .await
        .expect("the app starts");
    let api = Api::new(running.addr);
    let member = api.user(common::MEMBER_1).await;
    assert_eq!(member.tenant, "tenant-1");
    for path in [
        "/api/fmpa?status=ACTIVE",
        "/api/fmpa?status=ACTIVE",
        "/api/fmpa",
    ] {
        let (status, _) = api
            .call(reqwest::Method::GET, Some(&member.token), path, None)
            .await;
        assert!(status.is_success(), "{path}: {status}");
    }

    // The operator's tool: configured as the app is (its keys), publishing nothing.
    let cli = cache_cli::connect(common::sealed(
        testkit::Target::from_env().builder(scoped.namespace()),
    ))
    .await
    .expect("the command line connects");

    // stats: the app's process published its counters (every 100 ms here).
    let started = Instant::now();
    loop {
        let stats = json(&cli, "stats").await;
        let list = &stats["sites"]["fmpa"];
        let hits: u64 = list
            .as_object()
            .map(|sites| sites.values().filter_map(|s| s["hits"].as_u64()).sum())
            .unwrap_or(0);
        if hits >= 1 {
            assert_eq!(
                stats["processes"].as_array().map(Vec::len),
                Some(1),
                "{stats:#}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no fmpa hit published: {stats:#}"
        );
        tokio::time::sleep(period).await; // pacing while polling
    }
    let (_, text) = cache_cmd(&cli, "stats").await;
    assert!(
        text.contains("fmpa/") && text.contains("HIT RATE"),
        "{text}"
    );

    // top, once: the rates of the last interval, busiest first.
    api.call(
        reqwest::Method::GET,
        Some(&member.token),
        "/api/fmpa?status=ACTIVE",
        None,
    )
    .await;
    let (_, line) = cache_cmd(&cli, "top --iterations 1 --interval 0.3 --json").await;
    let top: Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert!(
        top["sites"]
            .as_array()
            .is_some_and(|sites| !sites.is_empty()),
        "{top:#}"
    );

    // keys: tenant-1's lists, as calls, current.
    let keys = json(&cli, "keys fmpa --scope tenant-1").await;
    let entries = keys.as_array().expect("a list of entries");
    assert_eq!(entries.len(), 2, "two filters read: {keys:#}");
    for entry in entries {
        assert_eq!(entry["state"], "current", "{entry:#}");
        assert_eq!(entry["call"]["scope"]["encoded"], "tenant-1");
    }
    let (_, table) = cache_cmd(&cli, "keys fmpa --scope tenant-1").await;
    assert!(
        table.contains("current") && table.contains("2 entries, 0 dead"),
        "{table}"
    );
    assert!(
        json(&cli, "keys fmpa --scope tenant-2")
            .await
            .as_array()
            .is_some_and(Vec::is_empty)
    );

    // get: the entry's value is the page the API served.
    let key = entries[0]["key"].as_str().expect("a key");
    let entry = json(&cli, &format!("get {key}")).await;
    assert!(entry["value"].is_object(), "{entry:#}");
    let (_, shown) = cache_cmd(&cli, &format!("get {key}")).await;
    assert!(
        shown.contains("state       Current") && shown.contains("value\n{"),
        "{shown}"
    );

    // A sealed entry (a session) opens with the keys only.
    let sessions = json(&cli, "keys session").await;
    let sealed = sessions
        .as_array()
        .and_then(|all| all.first())
        .expect("a session is cached");
    assert_eq!(sealed["sealed"], true);
    let session = json(&cli, &format!("get {}", sealed["key"].as_str().unwrap())).await;
    assert!(!session["value"].is_null(), "{session:#}");
    let keyless = cache_cli::connect(testkit::Target::from_env().builder(scoped.namespace()))
        .await
        .expect("connects");
    let shut = json(
        &keyless,
        &format!("get {}", sealed["key"].as_str().unwrap()),
    )
    .await;
    assert!(
        shut["value"].is_null()
            && shut["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("sealed")),
        "{shut:#}"
    );

    // invalidate: tenant-1's lists are dead, the next read loads.
    let (_, said) = cache_cmd(&cli, "invalidate fmpa tenant-1").await;
    assert!(said.contains("invalidated scope"), "{said}");
    let dead = json(&cli, "keys fmpa --scope tenant-1").await;
    assert!(
        dead.as_array()
            .unwrap()
            .iter()
            .all(|e| e["state"] == "dead"),
        "{dead:#}"
    );

    // doctor: a healthy fleet of the app and the tool.
    let (outcome, report) = cache_cmd(&cli, "doctor").await;
    assert_eq!(outcome, Outcome::Done, "{report}");
    assert!(
        report.contains("fleet") && report.contains("live process"),
        "{report}"
    );

    running.repo.db().pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
