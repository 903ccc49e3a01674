//! The in-process tier under faults, on private `redis-server`s (never the shared one):
//! a subscription that stalls, is killed, a server frozen or restarted. Whatever happens,
//! no old value is read more than δ after an invalidation returned.

mod common;

use cache_core::Cache;
use common::staleness::{self, Db, read_version, until_fresh};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testkit::{Fault, Proxy, RedisServer, redis_cli, test_builder};

const BOUND: Duration = Duration::from_millis(300);

/// A cache with a tier at `url`, with a short deadline (calls to a frozen server fail
/// fast and load from the source).
async fn tiered(url: &str, namespace: &str) -> Cache {
    test_builder(url, namespace)
        .op_timeout(Duration::from_millis(100))
        .connect_timeout(Duration::from_millis(500))
        .l1(1 << 20)
        .l1_bound(BOUND)
        .build()
        .await
        .expect("a cache with a tier")
}

/// The reader's subscription stalls (its traffic blackholed) while the writer's
/// invalidation lands: the tier stops serving within δ, and reads load the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscription_stops_the_tier_within_the_bound() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.addr()).await;
    let reader = tiered(&proxy.url(), "stall").await;
    let writer = tiered(&server.url(), "stall").await;
    until_fresh(&reader).await;
    let db = Db::default();
    read_version(&reader, &db, 0).await;
    assert_eq!(read_version(&reader, &db, 0).await, 0);
    assert_eq!(reader.stats().prefix("l1").local_hits, 1);
    proxy.set(Fault::Blackhole);
    let (version, landed) = staleness::write(&writer, &db, 0).await;
    assert!(landed);
    staleness::until_current(&reader, &db, 0, version, Instant::now(), BOUND).await;
    assert!(!reader.l1_stats().expect("a tier").fresh);
    proxy.set(Fault::Pass);
    until_fresh(&reader).await;
}

/// The seeded schedule of `tests/l1.rs`, with faults all along: the reader's subscription
/// killed, its traffic stalled, the server frozen (SIGSTOP) and restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_stays_within_the_bound_under_faults() {
    let server = Arc::new(std::sync::Mutex::new(RedisServer::start()));
    let (addr, url, port) = {
        let server = server.lock().unwrap();
        (server.addr(), server.url(), server.addr().port())
    };
    let proxy = Arc::new(Proxy::start(addr).await);
    let reader = tiered(&proxy.url(), "faults").await;
    let writer = tiered(&url, "faults").await;
    until_fresh(&reader).await;
    let (reads, _seed, mut rng) = testkit::seeded_run("L1_FAULTS", 10_000);
    let stop = Arc::new(AtomicBool::new(false));
    let mut fault_rng = testkit::Rng::new(rng.below(u64::MAX));
    let faults = {
        let (server, proxy, stop) = (server.clone(), proxy.clone(), stop.clone());
        tokio::spawn(async move {
            let mut done = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                // Pacing of the schedule: a fault now and then.
                tokio::time::sleep(Duration::from_millis(100 + fault_rng.below(300))).await;
                let hold = Duration::from_millis(50 + fault_rng.below(400));
                let kind = fault_rng.below(4);
                let server = server.clone();
                match kind {
                    0 => {
                        tokio::task::spawn_blocking(move || {
                            redis_cli(port, &["CLIENT", "KILL", "TYPE", "pubsub"])
                        })
                        .await
                        .expect("client kill");
                    }
                    1 => {
                        proxy.set(Fault::Blackhole);
                        tokio::time::sleep(hold).await;
                        proxy.set(Fault::Pass);
                    }
                    2 => {
                        server.lock().unwrap().freeze();
                        tokio::time::sleep(hold).await;
                        server.lock().unwrap().thaw();
                    }
                    _ => {
                        tokio::task::spawn_blocking(move || server.lock().unwrap().restart())
                            .await
                            .expect("restart");
                    }
                }
                done.push(kind);
            }
            done
        })
    };
    let report = staleness::run(&reader, &writer, reads as usize, &mut rng).await;
    stop.store(true, Ordering::SeqCst);
    let done = faults.await.expect("the fault task panicked");
    report.print("l1 staleness under faults");
    eprintln!("faults (0 kill subscription, 1 stall, 2 freeze, 3 restart): {done:?}");
    assert!(
        report.max() <= BOUND,
        "max {:?} > δ {BOUND:?}",
        report.max()
    );
    assert!(done.len() >= 3, "too few faults: {done:?}");
    assert!(report.local_hits > 0, "the tier served nothing");
}
