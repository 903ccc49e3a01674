//! Starts the Redis deployments the suites also run on, besides the shared server: a
//! cluster (3 masters, 3 replicas) and a TLS server with a CA made for the run. Prints
//! their environment as `NAME=value` lines, then `ready`, and stops them when its
//! standard input closes. `scripts/test.sh` runs it as a coprocess.

use std::io::Write;
use testkit::{RedisCluster, RedisServer, TlsFiles};

fn main() {
    let cluster = RedisCluster::start();
    let files = TlsFiles::generate();
    let tls = RedisServer::start_tls(&files, false);
    let mut out = std::io::stdout().lock();
    let lines = [
        format!("REDIS_CLUSTER_URLS={}", cluster.urls().join(",")),
        format!("REDIS_TLS_URL={}", tls.url()),
        format!("REDIS_TLS_CA_FILE={}", files.ca.display()),
        "ready".to_owned(),
    ];
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    drop(out);
    // Until the script is done (or gone): then the servers are dropped, hence killed.
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    drop((tls, cluster, files));
}
