//! `rediss://` against a local `redis-server --tls-port` with certificates the test makes:
//! connect, cache, invalidate; and the TLS mistakes `build()` must name.

#![cfg(feature = "_rustls")]

mod common;

use cache_core::{Cache, CacheError};
use common::{Source, read};
use std::time::Duration;
use testkit::{RedisCluster, RedisServer, Target, TlsFiles, test_builder, unique_namespace};

async fn exercise(cache: &Cache) {
    let source = Source::default();
    source.put("acme", "v1");
    assert_eq!(read(cache, &source, "acme").await, Ok("v1".into()));
    assert_eq!(read(cache, &source, "acme").await, Ok("v1".into()));
    assert_eq!(source.loads(), 1, "the second read is a hit over TLS");
    source.put("acme", "v2");
    cache
        .try_invalidate("fmpa", "acme")
        .await
        .expect("invalidation over TLS");
    assert_eq!(read(cache, &source, "acme").await, Ok("v2".into()));
}

#[tokio::test]
async fn rediss_with_a_private_ca() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files, false);
    let cache = test_builder(&server.url(), &unique_namespace("tls"))
        .tls_ca_file(&files.ca)
        .build()
        .await
        .expect("TLS to a server whose CA we trust");
    exercise(&cache).await;
}

/// A cluster whose nodes speak only TLS (clients, replication and bus): the TLS files
/// reach every node the driver discovers; caching, invalidation and `delete_pattern` over
/// every master work as on plain TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls() {
    let files = TlsFiles::generate();
    let cluster = RedisCluster::start_tls(&files);
    let cache = Target::Cluster(cluster.urls())
        .builder(&unique_namespace("tls-cluster"))
        .tls_ca_file(&files.ca)
        .build()
        .await
        .expect("TLS to every node of the cluster");
    assert!(cache.is_cluster());
    assert!(
        cluster
            .urls()
            .iter()
            .all(|url| url.starts_with("rediss://"))
    );
    exercise(&cache).await;
    cache.invalidate_all("fmpa").await;
    for i in 0..50 {
        cache
            .set(&format!("k{i}"), &i, Duration::from_secs(60))
            .await;
    }
    assert_eq!(cache.try_delete_pattern("k*").await.unwrap(), 50);
}

#[tokio::test]
async fn client_certificates_when_the_server_asks() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files, true);
    let without = test_builder(&server.url(), "tls")
        .tls_ca_file(&files.ca)
        .build()
        .await;
    assert!(
        matches!(without, Err(CacheError::Tls { .. })),
        "{without:?}"
    );
    let cache = test_builder(&server.url(), &unique_namespace("mtls"))
        .tls_ca_file(&files.ca)
        .tls_client_cert(&files.client_cert, &files.client_key)
        .build()
        .await
        .expect("mutual TLS");
    exercise(&cache).await;
}

#[tokio::test]
async fn tls_mistakes_are_clear_errors() {
    let files = TlsFiles::generate();
    let other = TlsFiles::generate();
    let server = RedisServer::start_tls(&files, false);

    // Another CA than the one that signed the server.
    match test_builder(&server.url(), "tls")
        .tls_ca_file(&other.ca)
        .build()
        .await
    {
        Err(error @ CacheError::Tls { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("TLS") && text.to_lowercase().contains("certificate"),
                "{text}"
            );
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // No CA at all: the system roots do not know a private CA.
    let system_roots = test_builder(&server.url(), "tls").build().await;
    assert!(
        matches!(system_roots, Err(CacheError::Tls { .. })),
        "{system_roots:?}"
    );
    // A CA file that does not exist.
    match test_builder(&server.url(), "tls")
        .tls_ca_file("/nonexistent/ca.pem")
        .build()
        .await
    {
        Err(error @ CacheError::Tls { .. }) => {
            assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}")
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // TLS to a plain server.
    let plain = RedisServer::start();
    let url = format!("rediss://127.0.0.1:{}", plain.addr().port());
    let to_plain = test_builder(&url, "tls")
        .tls_ca_file(&files.ca)
        .connect_timeout(std::time::Duration::from_millis(500))
        .build()
        .await;
    assert!(
        matches!(to_plain, Err(CacheError::Tls { .. })),
        "{to_plain:?}"
    );
}
