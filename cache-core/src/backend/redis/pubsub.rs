//! The backplane's side of the Redis backend ([`crate::l1::backplane`]): where to subscribe (the
//! server, or every master of a cluster), the subscriptions, the heartbeats published at
//! one node, and the removal of generation keys published atomically with its notice.
//!
//! A notice is published by the node that removes the keys, in the same script: a process
//! that subscribes there and receives its own heartbeat published there afterwards has
//! received the notice before it (one node delivers in the order it publishes).

use super::{Node, RedisBackend};
use crate::backend::Notice;
use crate::error::CacheError;
use redis::aio::PubSubStream;
use std::time::Duration;

/// `KEYS`: generation keys to remove. `ARGV`: the channel and the notice to publish.
pub(crate) const REMOVE_AND_PUBLISH: &str = r#"
for i = 1, #KEYS, 1000 do
  redis.call('UNLINK', unpack(KEYS, i, math.min(i + 999, #KEYS)))
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
"#;

/// A node the backplane subscribes to and publishes heartbeats at: the server, or one
/// master of a cluster by its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackplaneNode(Option<(String, u16)>);

impl RedisBackend {
    /// The nodes to subscribe to: the server, or each master of the cluster now.
    pub async fn backplane_nodes(&self) -> Result<Vec<BackplaneNode>, CacheError> {
        if !self.is_cluster() {
            return Ok(vec![BackplaneNode(None)]);
        }
        let nodes: String = self
            .run_at(
                &self.conn,
                Some(Node::Random),
                redis::cmd("CLUSTER").arg("NODES"),
            )
            .await?;
        let mut masters: Vec<BackplaneNode> = super::nodes::masters(&nodes)
            .into_iter()
            .map(|(host, port, _)| BackplaneNode(Some((host, port))))
            .collect();
        masters.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(masters)
    }

    /// A subscription to `channel` at `node`, on a connection of its own.
    pub async fn subscribe(
        &self,
        node: &BackplaneNode,
        channel: &str,
        connect_timeout: Duration,
    ) -> Result<PubSubStream, CacheError> {
        let info = self.subscriber.get_connection_info().clone();
        let info = match &node.0 {
            None => info,
            Some((host, port)) => {
                let addr = match info.addr() {
                    redis::ConnectionAddr::TcpTls {
                        insecure,
                        tls_params,
                        ..
                    } => redis::ConnectionAddr::TcpTls {
                        host: host.clone(),
                        port: *port,
                        insecure: *insecure,
                        tls_params: tls_params.clone(),
                    },
                    _ => redis::ConnectionAddr::Tcp(host.clone(), *port),
                };
                info.set_addr(addr)
            }
        };
        let client = redis::Client::open(info).map_err(CacheError::from_driver)?;
        let mut pubsub =
            match tokio::time::timeout(connect_timeout, client.get_async_pubsub()).await {
                Ok(connected) => connected.map_err(CacheError::from_driver)?,
                Err(_) => return Err(CacheError::Timeout(connect_timeout)),
            };
        self.within(pubsub.subscribe(channel)).await?;
        Ok(pubsub.into_on_message())
    }

    /// Publishes `message` on `channel` at `node`.
    pub async fn publish_at(
        &self,
        node: &BackplaneNode,
        channel: &str,
        message: &[u8],
    ) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(message);
        let at = node.0.as_ref().map(|(host, port)| Node::ByAddress {
            host: host.clone(),
            port: *port,
        });
        self.run_at::<u64>(&self.conn, at, &cmd).await.map(drop)
    }

    /// Removes generation keys and publishes `notice`: one script where the keys share a
    /// node (a server; one slot of a cluster), with its `WAIT` when replicas must
    /// acknowledge. Keys across a cluster's slots are removed first, then the notice is
    /// published at the first key's master.
    pub async fn remove_and_publish(
        &self,
        keys: &[&str],
        notice: &Notice<'_>,
    ) -> Result<(), CacheError> {
        let Some(first) = keys.first() else {
            return Ok(());
        };
        let slot = crate::slot::of(first);
        let one_node = !self.is_cluster() || keys.iter().all(|key| crate::slot::of(key) == slot);
        let node = || {
            use redis::cluster_routing::{Route, SlotAddr};
            Node::SpecificNode(Route::new(slot, SlotAddr::Master))
        };
        if !one_node {
            self.remove_generations(keys).await?;
            let mut cmd = redis::cmd("PUBLISH");
            cmd.arg(notice.channel).arg(notice.message);
            return self
                .run_at::<u64>(&self.conn, Some(node()), &cmd)
                .await
                .map(drop);
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(REMOVE_AND_PUBLISH)
            .arg(keys.len())
            .arg(keys)
            .arg(notice.channel)
            .arg(notice.message);
        let Some(writer) = &self.writer else {
            return self.run::<u64>(&cmd).await.map(drop);
        };
        let mut pipe = redis::pipe();
        pipe.add_command(cmd);
        let at = self.is_cluster().then(node);
        self.then_wait(writer, at, pipe).await.map(drop)
    }
}
