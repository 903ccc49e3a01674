//! §13: sensitive sites. A hit of a site whose prefix is sensitive (the value sealed with
//! XChaCha20-Poly1305, the key arguments hashed with HMAC-SHA256) against a plain hit of
//! the same value, small and list, on the same Redis.

use crate::Plan;
use crate::measure::{Call, call, ratio, sequential, throughput, us};
use crate::workload::*;
use cache_core::{Cache, EncryptionKeys, cached};
use std::sync::OnceLock;

/// The cache with keys and the `benchsealed` prefix declared sensitive.
static SEALED: OnceLock<Cache> = OnceLock::new();

#[cached(prefix = "benchplain", name = "small", ttl = "10m", key = tenant, cache = SEALED.get())]
async fn plain_small(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "benchplain", name = "list", ttl = "10m", key = tenant, cache = SEALED.get())]
async fn plain_list(tenant: &str) -> Result<Page, BenchError> {
    let _ = tenant;
    Ok(page())
}

#[cached(prefix = "benchsealed", name = "small", ttl = "10m", sensitive = true, key = tenant, cache = SEALED.get())]
async fn sealed_small(tenant: &str) -> Result<Row, BenchError> {
    let _ = tenant;
    Ok(row(1))
}

#[cached(prefix = "benchsealed", name = "list", ttl = "10m", sensitive = true, key = tenant, cache = SEALED.get())]
async fn sealed_list(tenant: &str) -> Result<Page, BenchError> {
    let _ = tenant;
    Ok(page())
}

pub(crate) async fn sealed(plan: &Plan) {
    println!("## 13. Sensitive sites: sealed values, hashed key arguments\n");
    let cache = Cache::builder()
        .redis_url(redis_url())
        .namespace("bench")
        .encryption_keys(EncryptionKeys::new().with_key("bench", [7; 32]))
        .sensitive_prefix("benchsealed")
        .build()
        .await
        .expect("cache with keys");
    let _ = SEALED.set(cache);
    for _ in 0..2 {
        plain_small("t1").await.expect("plain");
        plain_list("t1").await.expect("plain");
        sealed_small("t1").await.expect("sealed");
        sealed_list("t1").await.expect("sealed");
    }
    let stats = SEALED.get().expect("set").stats();
    assert_eq!(stats.prefix("benchsealed").loads, 2, "sealed values hit");
    let variants: Vec<Call> = vec![
        call(|| async { drop(plain_small("t1").await.expect("plain")) }),
        call(|| async { drop(sealed_small("t1").await.expect("sealed")) }),
        call(|| async { drop(plain_list("t1").await.expect("plain")) }),
        call(|| async { drop(sealed_list("t1").await.expect("sealed")) }),
    ];
    let seq = sequential(&variants, plan.rounds).await;
    let tput = throughput(&variants, 64, plan.window, plan.blocks).await;
    println!("| hit | p50 µs | p99 µs | p50 / plain | 64 tasks: calls/s | / plain |");
    println!("|---|---|---|---|---|---|");
    for (i, name) in [
        "small, plain",
        "small, sensitive",
        "list, plain",
        "list, sensitive",
    ]
    .iter()
    .enumerate()
    {
        let base = i - i % 2;
        println!(
            "| {name} | {} | {} | {} | {:.0} | {:.2} |",
            us(seq[i].median),
            us(seq[i].p99),
            ratio(seq[i].median, seq[base].median),
            tput[i],
            tput[i] / tput[base],
        );
    }
    println!(
        "\nA sensitive hit adds, to a plain one, the HMAC of its key arguments (building the keys) and the opening of the sealed value (XChaCha20-Poly1305 over its bytes).\n"
    );
}
