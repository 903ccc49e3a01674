//! The Redis backend: one multiplexed connection, reconnected by the driver, every call
//! under a deadline.

use crate::error::{CacheError, redact};
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError};
use std::time::Duration;

/// How the Redis backend connects and how long a call may take.
#[derive(Debug, Clone)]
pub(crate) struct RedisConfig {
    pub url: String,
    pub op_timeout: Duration,
    pub connect_timeout: Duration,
    pub lazy: bool,
    pub tls: TlsFiles,
}

/// PEM files for TLS: a CA to trust instead of the system's roots, and a client
/// certificate and key for servers that ask for one.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFiles {
    pub ca: Option<std::path::PathBuf>,
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// The driver's client for `url`, with the TLS files if any were given.
fn client(url: &str, redacted: &str, tls: &TlsFiles) -> Result<redis::Client, CacheError> {
    if tls.ca.is_none() && tls.client.is_none() {
        return redis::Client::open(url).map_err(|e| classify(redacted, url, e));
    }
    #[cfg(feature = "tls")]
    {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| CacheError::Tls {
                url: redacted.to_owned(),
                reason: format!("cannot read {}: {e}", path.display()),
            })
        };
        let root_cert = tls.ca.as_deref().map(read).transpose()?;
        let client_tls = match &tls.client {
            Some((cert, key)) => Some(redis::ClientTlsConfig {
                client_cert: read(cert)?,
                client_key: read(key)?,
            }),
            None => None,
        };
        redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls,
                root_cert,
            },
        )
        .map_err(|e| classify(redacted, url, e))
    }
    #[cfg(not(feature = "tls"))]
    Err(CacheError::Tls {
        url: redacted.to_owned(),
        reason: "TLS files were given but this build of cache-core has no `tls` feature".into(),
    })
}

/// A Redis server reached through the driver's `ConnectionManager`.
#[derive(Clone)]
pub struct RedisBackend {
    conn: ConnectionManager,
    op_timeout: Duration,
    url: String,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.url)
            .finish()
    }
}

impl RedisBackend {
    /// Connects (or, when `lazy`, prepares to connect on first use).
    pub(crate) async fn connect(config: &RedisConfig) -> Result<Self, CacheError> {
        let url = redact(&config.url);
        let client = client(&config.url, &url, &config.tls)?;
        // The deadline of each call is ours (`run`), which also covers waiting for a lazy
        // connection; the driver's own response timer would be a second timer per call.
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(config.connect_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let tcp_addr = match &client.get_connection_info().addr() {
            redis::ConnectionAddr::TcpTls { host, port, .. } => Some((host.clone(), *port)),
            _ => None,
        };
        let connected = async {
            Ok::<_, CacheError>(if config.lazy {
                ConnectionManager::new_lazy_with_config(client, manager_config)
                    .map_err(|e| classify(&url, &config.url, e))?
            } else {
                let connecting = ConnectionManager::new_with_config(client, manager_config);
                let mut conn = tokio::time::timeout(config.connect_timeout * 3, connecting)
                    .await
                    .map_err(|_| CacheError::Unreachable {
                        url: url.clone(),
                        reason: format!("no answer within {:?}", config.connect_timeout * 3),
                    })?
                    .map_err(|e| classify(&url, &config.url, e))?;
                let pong = tokio::time::timeout(
                    config.connect_timeout,
                    redis::cmd("PING").query_async::<String>(&mut conn),
                )
                .await
                .map_err(|_| CacheError::Unreachable {
                    url: url.clone(),
                    reason: "PING got no answer".into(),
                })?;
                pong.map_err(|e| classify(&url, &config.url, e))?;
                conn
            })
        };
        let conn = match (connected.await, tcp_addr) {
            (Err(CacheError::Unreachable { url, reason }), Some(addr)) => {
                return Err(tls_or_unreachable(url, reason, addr, config.connect_timeout).await);
            }
            (result, _) => result?,
        };
        Ok(Self {
            conn,
            op_timeout: config.op_timeout,
            url,
        })
    }

    /// Runs one command under the deadline.
    async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, CacheError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.op_timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CacheError::Timeout(self.op_timeout)),
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

    /// SCAN MATCH + UNLINK in batches (never KEYS); returns how many keys went.
    pub async fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
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
            let (next, keys): (u64, Vec<Vec<u8>>) = self.run(&scan).await?;
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
