//! `rediss://` against a local `redis-server --tls-port` with certificates the test makes:
//! connect, cache, invalidate; and the TLS mistakes `build()` must name.

#![cfg(feature = "tls")]

mod common;

use cache_core::{Cache, CacheError};
use common::{Source, read};
use testkit::{RedisServer, TlsFiles, test_builder, unique_namespace};

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
