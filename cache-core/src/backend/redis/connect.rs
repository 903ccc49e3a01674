//! The Redis backend's connection ([`Conn`]: one server through the driver's
//! `ConnectionManager`, reconnected by the driver, or a cluster), and its start-up: URLs
//! and TLS files to the driver's clients, the
//! connections (or lazy ones), and the errors a person can act on when they fail.

use crate::error::{CacheError, redact};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError};
use std::time::Duration;

/// One server, or a cluster.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Sends `cmd`.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> redis::RedisResult<T> {
        match self {
            Conn::Single(conn) => cmd.query_async(&mut conn.clone()).await,
            Conn::Cluster(conn) => cmd.query_async(&mut conn.clone()).await,
        }
    }
}

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
    /// Whether hits issued while another is in flight share one read.
    pub coalesce: bool,
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
    #[cfg(feature = "_rustls")]
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

    #[cfg(not(feature = "_rustls"))]
    fn certificates(&self, redacted: &str) -> Result<std::convert::Infallible, CacheError> {
        Err(CacheError::Tls {
            url: redacted.to_owned(),
            reason: "a CA file or a client certificate needs one of cache-core's rustls features, `tls` (the default) or `tls-aws-lc`; `tls-native` trusts the system's store only (SSL_CERT_FILE on Linux)".into(),
        })
    }
}

/// Makes sure rustls has a process-wide crypto provider before the driver builds a TLS
/// config. The driver calls `rustls::ClientConfig::builder()`, which takes the process
/// default and panics when there is none and both of rustls's providers are compiled in
/// (another crate of the application enabled `aws-lc-rs`, as tokio-rustls and hyper-rustls
/// do by default). A provider the application installed is kept; otherwise ring, the one
/// this crate enables (ring with `tls`, aws-lc-rs with `tls-aws-lc`), is installed, which
/// is what rustls itself picks when it is the only one.
#[cfg(feature = "_rustls")]
fn ensure_crypto_provider(urls: &[String]) {
    if urls.iter().any(|url| url.starts_with("rediss://"))
        && rustls::crypto::CryptoProvider::get_default().is_none()
    {
        // rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange;
        // ring stays the `tls` feature's choice (no C toolchain beyond `cc`), and
        // `tls-aws-lc` is the one with post-quantum groups. Chosen, so not a warning in
        // the builds of our users.
        #[cfg(feature = "tls")]
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        #[cfg(not(feature = "tls"))]
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        // Losing a race to another installer is fine: any provider will do.
        let _ = provider.install_default();
    }
}

/// Whether this build can speak TLS at all.
const TLS: bool = cfg!(any(feature = "_rustls", feature = "tls-native"));

/// A `rediss://` URL in a build without TLS: say which feature to turn on, rather than the
/// driver's error.
fn tls_available(urls: &[String], redacted: &str) -> Result<(), CacheError> {
    match !TLS && urls.iter().any(|url| url.starts_with("rediss://")) {
        true => Err(CacheError::Tls {
            url: redacted.to_owned(),
            reason: "`rediss://` needs one of cache-core's TLS features: `tls` (rustls with ring, the default), `tls-aws-lc` (rustls with aws-lc-rs) or `tls-native` (the platform's TLS); this build has none".into(),
        }),
        false => Ok(()),
    }
}

/// The driver's client for `url`, with the TLS files if any were given.
fn client(url: &str, redacted: &str, tls: &TlsFiles) -> Result<redis::Client, CacheError> {
    if tls.is_empty() {
        return redis::Client::open(url).map_err(|e| classify(redacted, url, e));
    }
    let certificates = tls.certificates(redacted)?;
    #[cfg(feature = "_rustls")]
    return redis::Client::build_with_tls(url, certificates)
        .map_err(|e| classify(redacted, url, e));
    #[cfg(not(feature = "_rustls"))]
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
    #[cfg(feature = "_rustls")]
    let builder = if config.tls.is_empty() {
        builder
    } else {
        builder.certs(config.tls.certificates(redacted)?)
    };
    #[cfg(not(feature = "_rustls"))]
    if !config.tls.is_empty() {
        match config.tls.certificates(redacted)? {}
    }
    builder.build().map_err(|e| classify(redacted, first, e))
}

/// What [`connect`] makes.
pub(super) struct Connected {
    pub conn: Conn,
    /// A connection of its own for generation writes followed by `WAIT`, which blocks
    /// its connection: the hits keep theirs. Present when replicas must acknowledge.
    pub writer: Option<Conn>,
    /// The URLs, passwords hidden, for logs and errors.
    pub url: String,
    /// A client of the server (of the first seed node of a cluster) for subscriptions.
    pub subscriber: redis::Client,
}

/// The driver's client of either kind.
enum Client {
    Single(redis::Client, ConnectionManagerConfig),
    Cluster(redis::cluster::ClusterClient, redis::cluster::ClusterConfig),
}

impl Client {
    /// A connection made on first use.
    fn lazy(&self) -> redis::RedisResult<Conn> {
        match self {
            Client::Single(client, config) => {
                ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                    .map(Conn::Single)
            }
            Client::Cluster(client, config) => Ok(Conn::Cluster(
                client.get_pending_async_connection_with_config(config.clone()),
            )),
        }
    }

    /// A connection made now.
    async fn connect(&self) -> redis::RedisResult<Conn> {
        match self {
            Client::Single(client, config) => {
                ConnectionManager::new_with_config(client.clone(), config.clone())
                    .await
                    .map(Conn::Single)
            }
            Client::Cluster(client, config) => client
                .get_async_connection_with_config(config.clone())
                .await
                .map(Conn::Cluster),
        }
    }
}

/// Connects (or, when `lazy`, prepares to connect on first use), and prepares the writer
/// connection when replicas must acknowledge. A cluster is reached through its seed
/// nodes: the driver discovers the others, follows `MOVED`/`ASK` and refreshes its slot
/// map after a failover.
pub(super) async fn connect(config: &RedisConfig) -> Result<Connected, CacheError> {
    #[cfg(feature = "_rustls")]
    ensure_crypto_provider(&config.urls);
    let url = config
        .urls
        .iter()
        .map(|u| redact(u))
        .collect::<Vec<_>>()
        .join(",");
    tls_available(&config.urls, &url)?;
    let raw_first = config.urls.first().map(String::as_str).unwrap_or_default();
    if config.cluster && config.urls.is_empty() {
        return Err(CacheError::InvalidUrl {
            url,
            reason: "a cluster needs at least one node URL".into(),
        });
    }
    let subscriber = client(raw_first, &url, &config.tls)?;
    let (client, tls_addr) = if config.cluster {
        let cluster_config =
            redis::cluster::ClusterConfig::new().set_connection_timeout(config.connect_timeout);
        let client = cluster_client(config, &url)?;
        (Client::Cluster(client, cluster_config), None)
    } else {
        let client = subscriber.clone();
        let tls_addr = match client.get_connection_info().addr() {
            redis::ConnectionAddr::TcpTls { host, port, .. } => Some((host.clone(), *port)),
            _ => None,
        };
        (Client::Single(client, manager_config(config)), tls_addr)
    };
    let conn = match config.lazy {
        true => client.lazy().map_err(|e| classify(&url, raw_first, e)),
        false => established(client.connect(), &url, raw_first, config.connect_timeout).await,
    };
    let conn = match (conn, tls_addr) {
        (Err(CacheError::Unreachable { url, reason }), Some(addr)) => {
            return Err(tls_or_unreachable(url, reason, addr, config.connect_timeout).await);
        }
        (conn, _) => conn?,
    };
    let writer = match config.replica_acks {
        0 => None,
        _ => Some(client.lazy().map_err(|e| classify(&url, raw_first, e))?),
    };
    Ok(Connected {
        conn,
        writer,
        url,
        subscriber,
    })
}

/// `what` failed to answer within `within`, as a start-up error.
fn silent(url: &str, what: &str, within: Duration) -> CacheError {
    CacheError::Unreachable {
        url: url.to_owned(),
        reason: format!("{what} within {within:?}"),
    }
}

/// Waits for a connection being made (at most three connect timeouts), then `PING`s it.
async fn established(
    connecting: impl std::future::Future<Output = redis::RedisResult<Conn>>,
    url: &str,
    raw_url: &str,
    within: Duration,
) -> Result<Conn, CacheError> {
    let conn = tokio::time::timeout(within * 3, connecting)
        .await
        .map_err(|_| silent(url, "no answer", within * 3))?
        .map_err(|e| classify(url, raw_url, e))?;
    ping(&conn, url, raw_url, within).await?;
    Ok(conn)
}

/// The `PING` that tells, at start-up, whether the server answers.
async fn ping(conn: &Conn, url: &str, raw_url: &str, within: Duration) -> Result<(), CacheError> {
    tokio::time::timeout(within, conn.query::<String>(&redis::cmd("PING")))
        .await
        .map_err(|_| silent(url, "PING got no answer", within))?
        .map(drop)
        .map_err(|e| classify(url, raw_url, e))
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
