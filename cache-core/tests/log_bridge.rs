//! With no `tracing` subscriber, the library's events reach a `log` logger (tracing's
//! `log` bridge, the default `log` feature): an application that logs with `log` and
//! `env_logger` sees that Redis is unreachable and which backend `from_env` chose. One
//! test in its own binary: a logger is global.

#![cfg(feature = "log")]

use cache_core::Cache;
use std::sync::Mutex;
use std::time::Duration;

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let line = record.args().to_string();
        RECORDS.lock().unwrap().push((record.level(), line));
    }

    fn flush(&self) {}
}

fn logged(level: log::Level, needle: &str) -> bool {
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .any(|(at, line)| *at == level && line.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_and_the_chosen_backend_reach_a_log_logger() {
    log::set_logger(&Capture).expect("the only logger of this binary");
    log::set_max_level(log::LevelFilter::Trace);

    // Redis unreachable (nothing listens on the port): the call runs uncached, and says so.
    let port = testkit::free_port();
    let cache = Cache::builder()
        .redis_url(format!("redis://127.0.0.1:{port}"))
        .namespace(testkit::unique_namespace("log-bridge"))
        .connect_timeout(Duration::from_millis(200))
        .op_timeout(Duration::from_millis(200))
        .lazy()
        .build()
        .await
        .expect("a lazy cache builds without Redis");
    let value = cache
        .get_or_set("k", Duration::from_secs(60), || async { 7 })
        .await;
    assert_eq!(value, 7, "the loader's value, uncached");
    assert!(
        logged(log::Level::Warn, "carrying on without the cache"),
        "the warning reached the log logger: {:?}",
        RECORDS.lock().unwrap()
    );

    // `from_env` says which backend it chose (Redis from REDIS_URL, or memory).
    let _ = Cache::from_env().await;
    assert!(
        logged(log::Level::Info, "cache: Redis")
            || logged(log::Level::Info, "cache: in-process memory"),
        "from_env logged its choice: {:?}",
        RECORDS.lock().unwrap()
    );
}
