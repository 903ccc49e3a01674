//! The Redis backend: one multiplexed connection to a server, reconnected by the driver,
//! or the driver's cluster connection (one per master, slot map refreshed on `MOVED` and
//! after failovers); every call under a deadline ([`RedisBackend::within`]).

mod coalesce;
mod connect;
mod fenced_store;
mod indexed;
mod lease;
mod manifests;
mod many;
mod nodes;
mod pubsub;
mod server;

pub(crate) use self::connect::{RedisConfig, TlsFiles};
pub(crate) use self::lease::Held;
pub(crate) use self::pubsub::{BackplaneNode, REMOVE_AND_PUBLISH};
pub(crate) use self::server::{ServerInfo, info_field};

use self::connect::Conn;
use self::nodes::{Slots, masters};
use crate::error::CacheError;
use bytes::Bytes;
use redis::{Cmd, FromRedisValue, RedisError};
use std::time::Duration;

/// One node of a cluster, for the commands whose keys do not say where they go.
type Node = redis::cluster_routing::SingleNodeRoutingInfo;

/// A Redis server reached through the driver's `ConnectionManager`, or a Redis Cluster
/// reached through its cluster connection.
#[derive(Clone)]
pub struct RedisBackend {
    conn: Conn,
    /// A connection of its own for generation writes followed by `WAIT`, which blocks
    /// its connection: the hits keep theirs. Present when replicas must acknowledge.
    writer: Option<Conn>,
    replica_acks: u32,
    op_timeout: Duration,
    url: String,
    /// Where hits issued while another is in flight gather ([`coalesce`]); `None` when
    /// coalescing is turned off.
    hits: Option<std::sync::Arc<self::coalesce::Coalescer>>,
    /// The client the backplane's subscriptions are made from (on a cluster, its address
    /// is replaced by each master's).
    subscriber: std::sync::Arc<redis::Client>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.url)
            .field("cluster", &self.is_cluster())
            .finish()
    }
}

impl RedisBackend {
    /// Connects (or, when `lazy`, prepares to connect on first use).
    pub(crate) async fn connect(config: &RedisConfig) -> Result<Self, CacheError> {
        let connected = connect::connect(config).await?;
        Ok(Self {
            conn: connected.conn,
            writer: connected.writer,
            replica_acks: config.replica_acks,
            op_timeout: config.op_timeout,
            url: connected.url,
            hits: config.coalesce.then(Default::default),
            subscriber: std::sync::Arc::new(connected.subscriber),
        })
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// Runs one command under the deadline.
    async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, CacheError> {
        self.run_at(&self.conn, None, cmd).await
    }

    /// `fut` under the deadline, its error classified: a reply Redis refused is
    /// [`CacheError::Refused`], anything else on the way a transport error.
    fn within<T, F>(&self, fut: F) -> crate::guarded::Within<F>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        crate::guarded::Within::new(fut, self.op_timeout)
    }

    /// Removes generation keys (`UNLINK`). With replica acknowledgements asked for, on
    /// the writer connection, each `UNLINK` pipelined with its `WAIT` so that both run on
    /// one connection: a reconnect in between fails the pair instead of letting `WAIT`
    /// acknowledge, on a fresh connection, a write it never saw.
    pub async fn remove_generations(&self, keys: &[&str]) -> Result<(), CacheError> {
        use redis::cluster_routing::{Route, SlotAddr};
        let Some(writer) = &self.writer else {
            return self.del(keys).await.map(drop);
        };
        match (writer, keys) {
            (_, []) => Ok(()),
            (Conn::Single(_), _) => self.unlink_and_wait(writer, None, keys).await,
            (Conn::Cluster(_), [key]) => {
                let route = Route::new(crate::slot::of(key), SlotAddr::Master);
                let node = Node::SpecificNode(route);
                self.unlink_and_wait(writer, Some(node), keys).await
            }
            (Conn::Cluster(_), _) => {
                let masters = self.masters_of(writer).await?;
                let mut left: Vec<&str> = keys.to_vec();
                for (node, slots) in masters {
                    let (here, elsewhere): (Vec<&str>, Vec<&str>) = left
                        .into_iter()
                        .partition(|key| slots.contains(crate::slot::of(key)));
                    left = elsewhere;
                    if !here.is_empty() {
                        self.unlink_and_wait(writer, Some(node), &here).await?;
                    }
                }
                // A slot no master serves now: not removed, so not done.
                match left.is_empty() {
                    true => Ok(()),
                    false => Err(CacheError::Unavailable),
                }
            }
        }
    }

    /// `UNLINK keys` then `WAIT`, in one pipeline on one connection (at `node` of a
    /// cluster, whose keys may span slots: one `UNLINK` each). The write counts as done
    /// only if enough replicas have it. (Counting only the replicas attached at the time
    /// would accept a write that a partitioned replica, promoted later, never saw.)
    async fn unlink_and_wait(
        &self,
        writer: &Conn,
        node: Option<Node>,
        keys: &[&str],
    ) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        match writer {
            Conn::Single(_) => {
                pipe.cmd("UNLINK").arg(keys);
            }
            Conn::Cluster(_) => {
                for key in keys {
                    pipe.cmd("UNLINK").arg(*key);
                }
            }
        }
        self.then_wait(writer, node, pipe).await.map(drop)
    }

    /// Runs `pipe` followed by `WAIT` on `writer` (at `node` of a cluster), in one
    /// pipeline on one connection; the reply of its last command before the `WAIT`, if
    /// enough replicas acknowledged.
    async fn then_wait(
        &self,
        writer: &Conn,
        node: Option<Node>,
        mut pipe: redis::Pipeline,
    ) -> Result<redis::Value, CacheError> {
        // Half the deadline on the server: the answer comes back within ours.
        let wait_ms = (self.op_timeout.as_millis() as u64 / 2).max(1);
        pipe.cmd("WAIT").arg(self.replica_acks).arg(wait_ms);
        let mut replies = self.pipeline_at(writer, node, pipe).await?;
        let acknowledged: u64 = match replies.pop() {
            Some(reply) => redis::from_redis_value(reply).map_err(RedisError::from)?,
            None => 0,
        };
        if acknowledged >= u64::from(self.replica_acks) {
            return Ok(replies.pop().unwrap_or(redis::Value::Nil));
        }
        Err(CacheError::NotReplicated {
            acknowledged,
            wanted: self.replica_acks,
        })
    }

    /// `pipe` on `conn` (at `node` of a cluster if given) under the deadline: its replies,
    /// or the first error among them.
    async fn pipeline_at(
        &self,
        conn: &Conn,
        node: Option<Node>,
        pipe: redis::Pipeline,
    ) -> Result<Vec<redis::Value>, CacheError> {
        let count = pipe.len();
        let replies: Vec<redis::Value> = match (conn, node) {
            (Conn::Cluster(cluster), Some(node)) => {
                let mut cluster = cluster.clone();
                self.within(cluster.route_pipeline(pipe, 0, count, node))
                    .await?
            }
            (Conn::Cluster(cluster), None) => {
                self.within(pipe.query_async(&mut cluster.clone())).await?
            }
            (Conn::Single(conn), _) => self.within(pipe.query_async(&mut conn.clone())).await?,
        };
        replies
            .into_iter()
            .map(|reply| reply.extract_error().map_err(CacheError::from_driver))
            .collect()
    }

    /// One command on `conn`, at `node` of a cluster if given, under the deadline.
    async fn run_at<T: FromRedisValue>(
        &self,
        conn: &Conn,
        node: Option<Node>,
        cmd: &Cmd,
    ) -> Result<T, CacheError> {
        match (conn, node) {
            (Conn::Cluster(cluster), Some(node)) => {
                let routing = redis::cluster_routing::RoutingInfo::SingleNode(node);
                let mut cluster = cluster.clone();
                let value = self
                    .within(cluster.route_command(cmd.clone(), routing))
                    .await?;
                Ok(redis::from_redis_value(value).map_err(RedisError::from)?)
            }
            _ => self.within(conn.query(cmd)).await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        self.run(redis::cmd("GET").arg(key)).await
    }

    pub async fn mget(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>, CacheError> {
        self.run(redis::cmd("MGET").arg(keys)).await
    }

    /// `MGET keys` and `PTTL ttl_of` in one pipeline (one round trip; `ttl_of` is one of
    /// `keys`, all in its slot): the values, and what remains of `ttl_of`'s TTL (`None`:
    /// gone by then, or no TTL).
    pub async fn mget_ttl(
        &self,
        keys: &[&str],
        ttl_of: &str,
    ) -> Result<(Vec<Option<Bytes>>, Option<Duration>), CacheError> {
        use redis::cluster_routing::{Route, SlotAddr};
        let mut pipe = redis::pipe();
        pipe.cmd("MGET").arg(keys).cmd("PTTL").arg(ttl_of);
        let node = self
            .is_cluster()
            .then(|| Node::SpecificNode(Route::new(crate::slot::of(ttl_of), SlotAddr::Master)));
        let mut replies = self.pipeline_at(&self.conn, node, pipe).await?.into_iter();
        let (Some(values), Some(ttl)) = (replies.next(), replies.next()) else {
            return Err(CacheError::Unavailable);
        };
        let values = redis::from_redis_value(values).map_err(RedisError::from)?;
        let ttl: i64 = redis::from_redis_value(ttl).map_err(RedisError::from)?;
        let remaining = u64::try_from(ttl).ok().map(Duration::from_millis);
        Ok((values, remaining))
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.run::<()>(
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(millis(ttl)),
        )
        .await
    }

    /// `SET key value NX PX ttl GET`: stores unless present; returns what was there.
    pub async fn set_nx_get(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<Option<Bytes>, CacheError> {
        let cmd = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .arg("GET")
            .to_owned();
        self.run(&cmd).await
    }

    pub async fn del(&self, keys: &[&str]) -> Result<u64, CacheError> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.run(redis::cmd("UNLINK").arg(keys)).await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.run(redis::cmd("EXISTS").arg(key)).await
    }

    /// SCAN MATCH + UNLINK in batches (never KEYS); returns how many keys went. On a
    /// cluster, every master is scanned and the count is the total.
    pub async fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        if !self.is_cluster() {
            return self.delete_pattern_on(None, pattern).await;
        }
        let mut deleted = 0;
        for (node, _) in self.masters_of(&self.conn).await? {
            deleted += self.delete_pattern_on(Some(node), pattern).await?;
        }
        Ok(deleted)
    }

    /// The members of the set `key` (an index of entries; tools only).
    pub async fn members(&self, key: &str) -> Result<Vec<String>, CacheError> {
        self.run(redis::cmd("SMEMBERS").arg(key)).await
    }

    /// The keys matching `pattern` (`SCAN MATCH`, every master of a cluster).
    pub async fn keys(&self, pattern: &str) -> Result<Vec<String>, CacheError> {
        let nodes = match self.is_cluster() {
            false => vec![None],
            true => self
                .masters_of(&self.conn)
                .await?
                .into_iter()
                .map(|(node, _)| Some(node))
                .collect(),
        };
        let mut found = Vec::new();
        for node in nodes {
            let mut cursor: u64 = 0;
            loop {
                let (next, keys) = self.scan(node.clone(), pattern, cursor).await?;
                found.extend(
                    keys.iter()
                        .map(|key| String::from_utf8_lossy(key).into_owned()),
                );
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(found)
    }

    /// One page of `SCAN cursor MATCH pattern` on one server (`node` of a cluster): the
    /// next cursor (0: done) and the keys.
    async fn scan(
        &self,
        node: Option<Node>,
        pattern: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<Vec<u8>>), CacheError> {
        let scan = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .to_owned();
        self.run_at(&self.conn, node, &scan).await
    }

    /// Where to reach each master of the cluster behind `conn` that serves slots, and
    /// its slots, as one of its nodes sees them now.
    async fn masters_of(&self, conn: &Conn) -> Result<Vec<(Node, Slots)>, CacheError> {
        let nodes: String = self
            .run_at(conn, Some(Node::Random), redis::cmd("CLUSTER").arg("NODES"))
            .await?;
        Ok(masters(&nodes)
            .into_iter()
            .map(|(host, port, slots)| (Node::ByAddress { host, port }, slots))
            .collect())
    }

    /// SCAN + UNLINK on one server (`node`, on a cluster; the server, otherwise).
    async fn delete_pattern_on(
        &self,
        node: Option<Node>,
        pattern: &str,
    ) -> Result<u64, CacheError> {
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys) = self.scan(node.clone(), pattern, cursor).await?;
            if !keys.is_empty() {
                deleted += self.run::<u64>(redis::cmd("UNLINK").arg(&keys)).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

fn millis(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}
