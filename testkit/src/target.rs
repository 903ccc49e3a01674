//! The Redis a test run targets, so that one suite runs on each kind of deployment:
//! `CACHE_TEST_BACKEND` = `single` (default: `REDIS_URL`), `cluster`
//! (`REDIS_CLUSTER_URLS`) or `tls` (`REDIS_TLS_URL` with `REDIS_TLS_CA_FILE`).
//! `scripts/test.sh` starts the cluster and the TLS server and runs the suites on each.

use cache_core::{Cache, CacheBuilder};
use std::path::PathBuf;
use std::time::Duration;

/// One kind of Redis deployment under test.
#[derive(Debug, Clone)]
pub enum Target {
    /// One server.
    Single(String),
    /// A Redis Cluster, by its node URLs.
    Cluster(Vec<String>),
    /// One server over TLS, with the CA that signed its certificate.
    Tls {
        /// `rediss://...`
        url: String,
        /// The CA certificate (PEM).
        ca: PathBuf,
    },
}

fn required(name: &str, backend: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!("CACHE_TEST_BACKEND={backend} needs {name}; scripts/test.sh sets it up")
        })
}

impl Target {
    /// The target this test run was asked for.
    pub fn from_env() -> Target {
        match std::env::var("CACHE_TEST_BACKEND").as_deref() {
            Ok("cluster") => Target::Cluster(
                required("REDIS_CLUSTER_URLS", "cluster")
                    .split(',')
                    .map(str::to_owned)
                    .collect(),
            ),
            Ok("tls") => Target::Tls {
                url: required("REDIS_TLS_URL", "tls"),
                ca: required("REDIS_TLS_CA_FILE", "tls").into(),
            },
            Ok("single") | Ok("") | Err(_) => Target::Single(crate::redis_url()),
            Ok(other) => panic!("CACHE_TEST_BACKEND={other}: use single, cluster or tls"),
        }
    }

    /// A builder connected to this target (no namespace, no test settings).
    pub fn connect(&self) -> CacheBuilder {
        match self {
            Target::Single(url) => Cache::builder().redis_url(url),
            Target::Cluster(urls) => Cache::builder().cluster_urls(urls.clone()),
            Target::Tls { url, ca } => Cache::builder().redis_url(url).tls_ca_file(ca),
        }
    }

    /// The environment that configures a program (`Cache::from_env`, the `cache` command
    /// line) for this target.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        match self {
            Target::Single(url) => vec![("REDIS_URL", url.clone())],
            Target::Cluster(urls) => vec![("REDIS_CLUSTER_URLS", urls.join(","))],
            Target::Tls { url, ca } => vec![
                ("REDIS_URL", url.clone()),
                ("REDIS_TLS_CA_FILE", ca.display().to_string()),
            ],
        }
    }

    /// The builder tests use: short generation TTL so that nothing outlives a failed
    /// clean-up by long, and a generous deadline so a loaded CI machine does not turn
    /// hits into misses.
    pub fn builder(&self, namespace: &str) -> CacheBuilder {
        self.connect()
            .namespace(namespace)
            .op_timeout(Duration::from_secs(2))
            .generation_ttl(Duration::from_secs(600))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Single(url) => write!(f, "Redis at {url}"),
            Target::Cluster(urls) => write!(f, "the Redis Cluster at {}", urls.join(",")),
            Target::Tls { url, .. } => write!(f, "Redis over TLS at {url}"),
        }
    }
}
