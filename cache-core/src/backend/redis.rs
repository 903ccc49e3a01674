//! The Redis backend: one multiplexed connection to a server, reconnected by the driver,
//! or the driver's cluster connection (one per master, slot map refreshed on `MOVED` and
//! after failovers); every call under a deadline.

use crate::error::{CacheError, redact};
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError};
use std::time::Duration;

/// How the Redis backend connects and how long a call may take.
#[derive(Clone)]
pub(crate) struct RedisConfig {
    /// One URL for a single server; the seed nodes of a cluster.
    pub urls: Vec<String>,
    pub cluster: bool,
    pub op_timeout: Duration,
    pub connect_timeout: Duration,
    pub lazy: bool,
    pub tls: TlsFiles,
    /// Replicas that must acknowledge a generation write (0: do not wait).
    pub replica_acks: u32,
}

/// PEM files for TLS: a CA to trust instead of the system's roots, and a client
/// certificate and key for servers that ask for one.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFiles {
    pub ca: Option<std::path::PathBuf>,
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl TlsFiles {
    fn is_empty(&self) -> bool {
        self.ca.is_none() && self.client.is_none()
    }

    /// The files' contents in the driver's form.
    #[cfg(feature = "tls")]
    fn certificates(&self, redacted: &str) -> Result<redis::TlsCertificates, CacheError> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| CacheError::Tls {
                url: redacted.to_owned(),
                reason: format!("cannot read {}: {e}", path.display()),
            })
        };
        let root_cert = self.ca.as_deref().map(read).transpose()?;
        let client_tls = match &self.client {
            Some((cert, key)) => Some(redis::ClientTlsConfig {
                client_cert: read(cert)?,
                client_key: read(key)?,
            }),
            None => None,
        };
        Ok(redis::TlsCertificates {
            client_tls,
            root_cert,
        })
    }

    #[cfg(not(feature = "tls"))]
    fn certificates(&self, redacted: &str) -> Result<std::convert::Infallible, CacheError> {
        Err(CacheError::Tls {
            url: redacted.to_owned(),
            reason: "TLS files were given but this build of cache-core has no `tls` feature".into(),
        })
    }
}

/// Makes sure rustls has a process-wide crypto provider before the driver builds a TLS
/// config. The driver calls `rustls::ClientConfig::builder()`, which takes the process
/// default and panics when there is none and both of rustls's providers are compiled in
/// (another crate of the application enabled `aws-lc-rs`, as tokio-rustls and hyper-rustls
/// do by default). A provider the application installed is kept; otherwise ring, the one
/// this crate enables, is installed, which is what rustls itself picks when ring is the
/// only one.
#[cfg(feature = "tls")]
fn ensure_crypto_provider(urls: &[String]) {
    if urls.iter().any(|url| url.starts_with("rediss://"))
        && rustls::crypto::CryptoProvider::get_default().is_none()
    {
        // Losing a race to another installer is fine: any provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The driver's client for `url`, with the TLS files if any were given.
fn client(url: &str, redacted: &str, tls: &TlsFiles) -> Result<redis::Client, CacheError> {
    if tls.is_empty() {
        return redis::Client::open(url).map_err(|e| classify(redacted, url, e));
    }
    let certificates = tls.certificates(redacted)?;
    #[cfg(feature = "tls")]
    return redis::Client::build_with_tls(url, certificates)
        .map_err(|e| classify(redacted, url, e));
    #[cfg(not(feature = "tls"))]
    match certificates {}
}

/// How the driver's connection manager reconnects. The deadline of each call is ours
/// (`run`), which also covers waiting for a lazy connection; the driver's own response
/// timer would be a second timer per call.
fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(Some(config.connect_timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1))
}

/// The driver's cluster client for the seed nodes `urls`.
fn cluster_client(
    config: &RedisConfig,
    redacted: &str,
) -> Result<redis::cluster::ClusterClient, CacheError> {
    let first = config.urls.first().map(String::as_str).unwrap_or_default();
    // Few, quick retries: a call has our deadline, and a retry the driver still runs after
    // it would only add load to a failing node.
    let builder = redis::cluster::ClusterClientBuilder::new(config.urls.clone())
        .connection_timeout(config.connect_timeout)
        .retries(2)
        .min_retry_wait(10)
        .max_retry_wait(200);
    #[cfg(feature = "tls")]
    let builder = if config.tls.is_empty() {
        builder
    } else {
        builder.certs(config.tls.certificates(redacted)?)
    };
    #[cfg(not(feature = "tls"))]
    if !config.tls.is_empty() {
        match config.tls.certificates(redacted)? {}
    }
    builder.build().map_err(|e| classify(redacted, first, e))
}

/// The connection under a backend: one server, or a cluster.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

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
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.url)
            .field("cluster", &self.is_cluster())
            .finish()
    }
}

/// `what` failed to answer within `within`, as a start-up error.
fn silent(url: &str, what: &str, within: Duration) -> CacheError {
    CacheError::Unreachable {
        url: url.to_owned(),
        reason: format!("{what} within {within:?}"),
    }
}

impl RedisBackend {
    /// Connects (or, when `lazy`, prepares to connect on first use).
    pub(crate) async fn connect(config: &RedisConfig) -> Result<Self, CacheError> {
        #[cfg(feature = "tls")]
        ensure_crypto_provider(&config.urls);
        if config.cluster {
            return Self::connect_cluster(config).await;
        }
        let raw_url = config.urls.first().map(String::as_str).unwrap_or_default();
        let url = redact(raw_url);
        let client = client(raw_url, &url, &config.tls)?;
        let manager_config = manager_config(config);
        let tcp_addr = match &client.get_connection_info().addr() {
            redis::ConnectionAddr::TcpTls { host, port, .. } => Some((host.clone(), *port)),
            _ => None,
        };
        let connected = async {
            if config.lazy {
                return ConnectionManager::new_lazy_with_config(client, manager_config)
                    .map_err(|e| classify(&url, raw_url, e));
            }
            let connecting = ConnectionManager::new_with_config(client, manager_config);
            established(
                connecting,
                Conn::Single,
                &url,
                raw_url,
                config.connect_timeout,
            )
            .await
        };
        let conn = match (connected.await, tcp_addr) {
            (Err(CacheError::Unreachable { url, reason }), Some(addr)) => {
                return Err(tls_or_unreachable(url, reason, addr, config.connect_timeout).await);
            }
            (result, _) => result?,
        };
        let writer = if config.replica_acks > 0 {
            let writer_client = self::client(raw_url, &url, &config.tls)?;
            let writer = ConnectionManager::new_lazy_with_config(
                writer_client,
                self::manager_config(config),
            )
            .map_err(|e| classify(&url, raw_url, e))?;
            Some(Conn::Single(writer))
        } else {
            None
        };
        Ok(Self {
            conn: Conn::Single(conn),
            writer,
            replica_acks: config.replica_acks,
            op_timeout: config.op_timeout,
            url,
        })
    }

    /// Connects to a cluster through its seed nodes; the driver discovers the others,
    /// follows `MOVED`/`ASK` and refreshes its slot map after a failover.
    async fn connect_cluster(config: &RedisConfig) -> Result<Self, CacheError> {
        let url = config
            .urls
            .iter()
            .map(|u| redact(u))
            .collect::<Vec<_>>()
            .join(",");
        let raw_first = config.urls.first().map(String::as_str).unwrap_or_default();
        if config.urls.is_empty() {
            return Err(CacheError::InvalidUrl {
                url,
                reason: "a cluster needs at least one node URL".into(),
            });
        }
        let client = cluster_client(config, &url)?;
        let cluster_config =
            redis::cluster::ClusterConfig::new().set_connection_timeout(config.connect_timeout);
        let writer = (config.replica_acks > 0).then(|| {
            Conn::Cluster(client.get_pending_async_connection_with_config(cluster_config.clone()))
        });
        let conn = if config.lazy {
            client.get_pending_async_connection_with_config(cluster_config)
        } else {
            let connecting = client.get_async_connection_with_config(cluster_config);
            established(
                connecting,
                Conn::Cluster,
                &url,
                raw_first,
                config.connect_timeout,
            )
            .await?
        };
        Ok(Self {
            conn: Conn::Cluster(conn),
            writer,
            replica_acks: config.replica_acks,
            op_timeout: config.op_timeout,
            url,
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
    async fn within<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheError> {
        match tokio::time::timeout(self.op_timeout, fut).await {
            Ok(result) => result.map_err(CacheError::from_driver),
            Err(_) => Err(CacheError::Timeout(self.op_timeout)),
        }
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
        // Half the deadline on the server: the answer comes back within ours.
        let wait_ms = (self.op_timeout.as_millis() as u64 / 2).max(1);
        pipe.cmd("WAIT").arg(self.replica_acks).arg(wait_ms);
        let count = keys.len() + 1;
        let replies: Vec<redis::Value> = match (writer, node) {
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
        let mut acknowledged = None;
        for reply in replies {
            let reply = reply.extract_error().map_err(CacheError::from_driver)?;
            acknowledged = Some(reply);
        }
        let acknowledged: u64 = match acknowledged {
            Some(reply) => redis::from_redis_value(reply).map_err(RedisError::from)?,
            None => 0,
        };
        if acknowledged >= u64::from(self.replica_acks) {
            return Ok(());
        }
        Err(CacheError::NotReplicated {
            acknowledged,
            wanted: self.replica_acks,
        })
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
            _ => self.within(query(conn, cmd)).await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        self.run(redis::cmd("GET").arg(key)).await
    }

    pub async fn mget(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>, CacheError> {
        self.run(redis::cmd("MGET").arg(keys)).await
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
            let scan = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .to_owned();
            let (next, keys): (u64, Vec<Vec<u8>>) =
                self.run_at(&self.conn, node.clone(), &scan).await?;
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

/// One node of a cluster, for the commands whose keys do not say where they go.
type Node = redis::cluster_routing::SingleNodeRoutingInfo;

/// The slot ranges a master serves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slots(Vec<(u16, u16)>);

impl Slots {
    fn contains(&self, slot: u16) -> bool {
        self.0
            .iter()
            .any(|&(first, last)| (first..=last).contains(&slot))
    }
}

/// The addresses of the masters that serve slots, and their slots, from `CLUSTER NODES`
/// output (slots being migrated, `[...]`, are left out).
fn masters(nodes: &str) -> Vec<(String, u16, Slots)> {
    nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let serves_slots = fields.len() > 8;
            let up = flags.split(',').all(|f| f != "fail" && f != "noaddr");
            if !(flags.split(',').any(|f| f == "master") && up && serves_slots) {
                return None;
            }
            // `ip:port@cport[,hostname]`
            let address = fields.get(1)?.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            let slots = fields[8..]
                .iter()
                .filter_map(|range| match range.split_once('-') {
                    Some((first, last)) => Some((first.parse().ok()?, last.parse().ok()?)),
                    None => range.parse().ok().map(|slot| (slot, slot)),
                })
                .collect();
            Some((host.to_owned(), port.parse().ok()?, Slots(slots)))
        })
        .collect()
}

/// Sends `cmd` on either kind of connection.
async fn query<T: FromRedisValue>(conn: &Conn, cmd: &Cmd) -> redis::RedisResult<T> {
    match conn {
        Conn::Single(conn) => cmd.query_async(&mut conn.clone()).await,
        Conn::Cluster(conn) => cmd.query_async(&mut conn.clone()).await,
    }
}

/// Waits for a connection being made (at most three connect timeouts), then `PING`s it.
async fn established<C: Clone>(
    connecting: impl std::future::Future<Output = redis::RedisResult<C>>,
    wrap: fn(C) -> Conn,
    url: &str,
    raw_url: &str,
    within: Duration,
) -> Result<C, CacheError> {
    let conn = tokio::time::timeout(within * 3, connecting)
        .await
        .map_err(|_| silent(url, "no answer", within * 3))?
        .map_err(|e| classify(url, raw_url, e))?;
    ping(wrap(conn.clone()), url, raw_url, within).await?;
    Ok(conn)
}

/// The `PING` that tells, at start-up, whether the server answers.
async fn ping(conn: Conn, url: &str, raw_url: &str, within: Duration) -> Result<(), CacheError> {
    tokio::time::timeout(within, query::<String>(&conn, &redis::cmd("PING")))
        .await
        .map_err(|_| silent(url, "PING got no answer", within))?
        .map(drop)
        .map_err(|e| classify(url, raw_url, e))
}

fn millis(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

/// A `rediss://` connection that timed out: if the port accepts TCP, the TLS handshake is
/// what never finished (most often a plain, non-TLS port); otherwise it is unreachable.
async fn tls_or_unreachable(
    url: String,
    reason: String,
    (host, port): (String, u16),
    within: Duration,
) -> CacheError {
    let accepts = tokio::time::timeout(
        within,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .is_ok_and(|connected| connected.is_ok());
    if accepts {
        CacheError::Tls {
            url,
            reason: format!(
                "the port accepts TCP but no TLS handshake completed ({reason}): is it a plain, non-TLS port?"
            ),
        }
    } else {
        CacheError::Unreachable { url, reason }
    }
}

/// Turns a driver error at start-up into the error a person can act on.
fn classify(redacted: &str, raw_url: &str, error: RedisError) -> CacheError {
    let url = redacted.to_owned();
    let text = error.to_string();
    let auth = error.kind() == ErrorKind::AuthenticationFailed
        || [
            "WRONGPASS",
            "NOAUTH",
            "invalid password",
            "invalid username-password",
        ]
        .iter()
        .any(|needle| text.contains(needle));
    if auth {
        return CacheError::Auth { url, source: error };
    }
    // Over TLS, a connection that was accepted and then failed is the TLS set-up: an
    // unknown CA, a name that does not match, a plain server, a missing client certificate.
    let refused = error.is_connection_refusal() || error.is_timeout();
    if raw_url.starts_with("rediss://") && !refused {
        return CacheError::Tls { url, reason: text };
    }
    match error.kind() {
        ErrorKind::InvalidClientConfig => CacheError::InvalidUrl { url, reason: text },
        _ => CacheError::Unreachable { url, reason: text },
    }
}

#[cfg(test)]
mod tests {
    use super::masters;

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922 [5460->-e7d1]
292f 127.0.0.1:30003@40003,host.example master - 0 1426238318243 3 connected 10923-16383
6ec2 127.0.0.1:30005@40005 master,fail - 1426238316232 0 5 disconnected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
";
        let found = masters(nodes);
        let addresses: Vec<(&str, u16)> = found
            .iter()
            .map(|(host, port, _)| (host.as_str(), *port))
            .collect();
        assert_eq!(
            addresses,
            [
                ("127.0.0.1", 30002),
                ("127.0.0.1", 30003),
                ("127.0.0.1", 30001)
            ]
        );
        let slots = &found[0].2;
        assert!(slots.contains(5461) && slots.contains(10922) && slots.contains(7000));
        assert!(!slots.contains(5460) && !slots.contains(10923));
    }
}
