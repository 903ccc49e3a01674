//! A private Redis Cluster: 3 masters and 3 replicas of `redis-server --cluster-enabled
//! yes` on free loopback ports, joined with `redis-cli --cluster create`, killed when
//! dropped.

use crate::{RedisServer, TlsFiles};
use std::process::Command;
use std::time::{Duration, Instant};

/// Settings every node gets. A short node timeout makes failovers quick; partial
/// coverage keeps the live masters serving while a shard is down, which is how a cache
/// cluster should be run (the README says so).
const NODE_ARGS: [&str; 8] = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "1000",
    "--cluster-require-full-coverage",
    "no",
];

/// A running cluster of private servers.
pub struct RedisCluster {
    /// The nodes, masters and replicas, in the order they were started.
    pub nodes: Vec<RedisServer>,
    /// What `redis-cli` needs to reach them (`--tls --cacert ...` for a TLS cluster).
    cli_args: Vec<String>,
}

/// Runs `redis-cli -p <port> <args>` and returns what it printed.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    redis_cli_with(&[], port, args)
}

fn redis_cli_with(options: &[String], port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(options)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run redis-cli ({e}); it comes with redis-server"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl RedisCluster {
    /// Starts 3 masters with one replica each and waits until every node sees the
    /// cluster as healthy.
    pub fn start() -> Self {
        Self::start_nodes(Vec::new(), RedisServer::start_with)
    }

    /// The same cluster speaking only TLS, clients, replication and cluster bus alike,
    /// with `files`' server certificate.
    pub fn start_tls(files: &TlsFiles) -> Self {
        let cli_args = vec![
            "--tls".to_owned(),
            "--cacert".to_owned(),
            files.ca.display().to_string(),
        ];
        Self::start_nodes(cli_args, |args| {
            let mut args = args.to_vec();
            args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"]);
            RedisServer::start_tls_with(files, false, &args)
        })
    }

    fn start_nodes(cli_args: Vec<String>, start: impl Fn(&[&str]) -> RedisServer) -> Self {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                // The bus port would be the port + 10000 by default, which may fall in
                // the ephemeral range: pick one from ours.
                let bus = crate::free_port().to_string();
                let mut args = NODE_ARGS.to_vec();
                args.extend(["--cluster-port", &bus]);
                start(&args)
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.addr().port()))
            .collect();
        let output = Command::new("redis-cli")
            .args(&cli_args)
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("run redis-cli --cluster create ({e})"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self { nodes, cli_args };
        cluster.wait_healthy(Duration::from_secs(30));
        cluster
    }

    /// The seed URLs of every node (`redis://127.0.0.1:<port>`, `rediss://` over TLS).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    fn port(&self, node: usize) -> u16 {
        self.nodes[node].addr().port()
    }

    /// `redis-cli` on one node.
    pub fn cli(&self, node: usize, args: &[&str]) -> String {
        redis_cli_with(&self.cli_args, self.port(node), args)
    }

    /// Whether `node` is up and says it is a master.
    pub fn is_master(&self, node: usize) -> bool {
        self.cli(node, &["ROLE"]).starts_with("master")
    }

    /// The node (index) that serves `slot` as master, as the live nodes see it.
    pub fn master_of_slot(&self, slot: u16) -> usize {
        let live = (0..self.nodes.len())
            .find(|&n| self.cli(n, &["PING"]).trim() == "PONG")
            .expect("a live node");
        let nodes = self.cli(live, &["CLUSTER", "NODES"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| {
                let mut bounds = range.split('-').filter_map(|b| b.parse::<u16>().ok());
                match (bounds.next(), bounds.next()) {
                    (Some(lo), Some(hi)) => (lo..=hi).contains(&slot),
                    (Some(one), None) => one == slot,
                    _ => false,
                }
            });
            if serves {
                let port: u16 = fields[1]
                    .split(['@', ','])
                    .next()
                    .and_then(|a| a.rsplit_once(':'))
                    .and_then(|(_, p)| p.parse().ok())
                    .expect("a node address");
                return (0..self.nodes.len())
                    .find(|&n| self.port(n) == port)
                    .expect("a node of this cluster");
            }
        }
        panic!("no live master serves slot {slot}");
    }

    /// The replica (index) of master `node` (`ROLE` on a replica names its master's
    /// port).
    pub fn replica_of(&self, node: usize) -> usize {
        let port = self.port(node).to_string();
        (0..self.nodes.len())
            .find(|&n| {
                let role = self.cli(n, &["ROLE"]);
                let mut lines = role.lines();
                lines.next() == Some("slave") && lines.nth(1) == Some(port.as_str())
            })
            .expect("a replica of this master")
    }

    /// Waits until every live node reports `cluster_state:ok` and every live replica is
    /// in sync with its master (a replica that never synced would refuse to fail over).
    pub fn wait_healthy(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let healthy = (0..self.nodes.len())
                .filter(|&n| self.nodes[n].is_running())
                .all(|n| {
                    let replication = self.cli(n, &["INFO", "replication"]);
                    self.cli(n, &["CLUSTER", "INFO"])
                        .contains("cluster_state:ok")
                        && (replication.contains("role:master")
                            || replication.contains("master_link_status:up"))
                });
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not become healthy"
            );
            std::thread::sleep(Duration::from_millis(50)); // polling a readiness condition
        }
    }

    /// Waits until `node` is a master (after a failover).
    pub fn wait_master(&self, node: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.is_master(node) {
            assert!(
                Instant::now() < deadline,
                "node {node} did not become a master"
            );
            std::thread::sleep(Duration::from_millis(50)); // polling a readiness condition
        }
    }
}
