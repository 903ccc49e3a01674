//! The slow-reader race across two processes sharing only Redis: this test reads through
//! the cache with a slow "query"; another process (`race-peer`) writes and invalidates in
//! the middle of it, at random moments. After the writer's invalidation has returned, no
//! read may return data older than its write, whatever the slow reader filled.

use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::Cache;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;
use tokio::sync::oneshot;

static READ: Site = Site::new("race", "version", Duration::from_secs(60), 0);

struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(url: &str, namespace: &str) -> Peer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_race-peer"))
            .args([url, namespace])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start race-peer");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    /// Has the other process write and invalidate; returns the version it wrote.
    fn write(&mut self, tenant: &str) -> u64 {
        writeln!(self.stdin, "write {tenant}").expect("send");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the peer answers");
        line.trim()
            .strip_prefix("done ")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad answer {line:?}"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cached read of the tenant's version; the "query" reads the database, reports that
/// it has, then takes `slow` more before returning.
async fn read(
    cache: &Cache,
    db: &redis::aio::MultiplexedConnection,
    namespace: &str,
    tenant: &str,
    slow: Duration,
    loaded: Option<oneshot::Sender<()>>,
) -> u64 {
    let mut parts = KeyParts::new();
    parts.scope(tenant);
    let mut db = db.clone();
    let key = format!("{namespace}:db:{tenant}");
    __private::cached(
        ResultMode::<Result<u64, String>>::new(),
        &READ,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async move {
            let version: Option<u64> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut db)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(loaded) = loaded {
                let _ = loaded.send(());
            }
            tokio::time::sleep(slow).await; // the slow query itself
            Ok(version.unwrap_or(0))
        },
    )
    .await
    .expect("the database answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stale_read_across_processes() {
    let scoped = testkit::redis_cache("two-processes").await;
    let namespace = scoped.namespace().to_owned();
    let url = testkit::redis_url();
    let db = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut peer = Peer::start(&url, &namespace);
    let mut rng = testkit::Rng::new(0x853C_49E6_748F_EA9B);
    let rounds = 150;
    for round in 0..rounds {
        let tenant = format!("t{}", round % 3);
        // Warm the entry half of the time, so that both fills and hits race the write.
        if rng.below(2) == 0 {
            read(&scoped, &db, &namespace, &tenant, Duration::ZERO, None).await;
        }
        let (loaded_tx, loaded_rx) = oneshot::channel();
        let slow = Duration::from_micros(200 + rng.below(3000));
        let reader = {
            let (cache, db, namespace, tenant) = (
                scoped.cache.clone(),
                db.clone(),
                namespace.clone(),
                tenant.clone(),
            );
            tokio::spawn(async move {
                read(&cache, &db, &namespace, &tenant, slow, Some(loaded_tx)).await
            })
        };
        // The write lands before, during or after the slow query, at random.
        match rng.below(3) {
            0 => {}
            1 => {
                let _ = loaded_rx.await;
            }
            _ => {
                let _ = loaded_rx.await;
                tokio::time::sleep(Duration::from_micros(rng.below(3000))).await; // a random moment inside the query
            }
        }
        // The peer talks over blocking pipes: ask it from a blocking thread.
        let (returned_peer, version) = tokio::task::spawn_blocking({
            let tenant = tenant.clone();
            move || {
                let version = peer.write(&tenant);
                (peer, version)
            }
        })
        .await
        .unwrap();
        peer = returned_peer;
        let slow_result = reader.await.unwrap();
        assert!(
            slow_result <= version,
            "the slow reader cannot see the future"
        );
        for _ in 0..2 {
            let fresh = read(&scoped, &db, &namespace, &tenant, Duration::ZERO, None).await;
            assert!(
                fresh >= version,
                "round {round}: read {fresh} after version {version} was written and invalidated"
            );
        }
    }
    let stats = scoped.stats().prefix("race");
    assert!(
        stats.hits > 0 && stats.misses > 0,
        "both paths raced: {stats:?}"
    );
}
