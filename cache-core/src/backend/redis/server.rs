//! What a tool asks the servers themselves (the `cache doctor` command): `INFO`, `CONFIG
//! GET`, `PUBSUB NUMSUB`, `PING` on each master, and a cluster's coverage. Never on a
//! request path.

use super::RedisBackend;
use crate::error::CacheError;
use redis::cluster_routing::SingleNodeRoutingInfo as Node;
use std::time::{Duration, Instant};

/// One master's answers to a tool.
#[derive(Debug, Clone)]
pub(crate) struct ServerInfo {
    /// `host:port`, or `server` for a single one.
    pub address: String,
    /// `INFO server memory stats`, or why it failed.
    pub info: Result<String, String>,
    /// `CONFIG GET maxmemory-policy` (refused by some managed services).
    pub policy: Option<String>,
    /// Subscribers of the channel asked about.
    pub subscribers: Option<u64>,
    /// Round trips of `PING`, as measured.
    pub pings: Vec<Duration>,
}

impl RedisBackend {
    /// Each master's answers, with the subscribers of `channel`.
    pub(crate) async fn servers(&self, channel: &str) -> Result<Vec<ServerInfo>, CacheError> {
        let nodes: Vec<(String, Option<Node>)> = match self.is_cluster() {
            false => vec![(String::from("server"), None)],
            true => self
                .masters_of(&self.conn)
                .await?
                .into_iter()
                .map(|(node, _)| {
                    let address = match &node {
                        Node::ByAddress { host, port } => format!("{host}:{port}"),
                        _ => String::from("?"),
                    };
                    (address, Some(node))
                })
                .collect(),
        };
        let mut out = Vec::new();
        for (address, node) in nodes {
            let at = |cmd: redis::Cmd| {
                let node = node.clone();
                async move { self.run_at::<redis::Value>(&self.conn, node, &cmd).await }
            };
            let info = match at(redis::cmd("INFO")
                .arg("server")
                .arg("memory")
                .arg("stats")
                .clone())
            .await
            {
                Ok(value) => redis::from_redis_value::<String>(value).map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            let policy = at(redis::cmd("CONFIG")
                .arg("GET")
                .arg("maxmemory-policy")
                .clone())
            .await
            .ok()
            .and_then(|value| redis::from_redis_value::<Vec<String>>(value).ok())
            .and_then(|pair| pair.into_iter().nth(1));
            let subscribers = at(redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).clone())
                .await
                .ok()
                .and_then(|value| redis::from_redis_value::<(String, u64)>(value).ok())
                .map(|(_, count)| count);
            let mut pings = Vec::new();
            for _ in 0..5 {
                let started = Instant::now();
                if at(redis::cmd("PING")).await.is_ok() {
                    pings.push(started.elapsed());
                }
            }
            out.push(ServerInfo {
                address,
                info,
                policy,
                subscribers,
                pings,
            });
        }
        Ok(out)
    }

    /// For a cluster: its `cluster_state` and how many of the 16,384 slots its serving
    /// masters cover; `None` for a single server.
    pub(crate) async fn coverage(&self) -> Result<Option<(String, u32)>, CacheError> {
        if !self.is_cluster() {
            return Ok(None);
        }
        let info: String = self
            .run_at(
                &self.conn,
                Some(Node::Random),
                redis::cmd("CLUSTER").arg("INFO"),
            )
            .await?;
        let state = info_field(&info, "cluster_state")
            .unwrap_or("unknown")
            .to_owned();
        let masters = self.masters_of(&self.conn).await?;
        let covered = (0..16384u16)
            .filter(|slot| masters.iter().any(|(_, slots)| slots.contains(*slot)))
            .count();
        Ok(Some((state, covered as u32)))
    }
}

/// The value of `name` in `INFO` (or `CLUSTER INFO`) output: `name:value` lines.
pub(crate) fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim())
    })
}
