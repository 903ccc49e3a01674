//! The other process of `tests/tests/two_processes.rs`: a writer sharing only Redis with
//! the test. Usage: `race-peer <redis-url> <namespace>`; on stdin, `write <tenant>` bumps
//! the tenant's version in the "database" (a plain Redis counter under the
//! namespace, `<namespace>:db:<tenant>`), invalidates the
//! tenant's cached entries, and answers `done <version>` once both have returned.

use cache_core::Cache;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(namespace)) = (args.next(), args.next()) else {
        eprintln!("usage: race-peer <redis-url> <namespace>");
        std::process::exit(2);
    };
    let cache = match Cache::builder()
        .redis_url(&url)
        .namespace(&namespace)
        .build()
        .await
    {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("race-peer: {error}");
            std::process::exit(1);
        }
    };
    let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| {
        eprintln!("race-peer: {e}");
        std::process::exit(1)
    });
    let mut db = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            eprintln!("race-peer: {e}");
            std::process::exit(1)
        });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some(tenant) = line.strip_prefix("write ") else {
            break;
        };
        let version: u64 = match redis::cmd("INCR")
            .arg(format!("{namespace}:db:{tenant}"))
            .query_async(&mut db)
            .await
        {
            Ok(version) => version,
            Err(error) => {
                eprintln!("race-peer: {error}");
                std::process::exit(1);
            }
        };
        if let Err(error) = cache.try_invalidate("race", tenant).await {
            eprintln!("race-peer: invalidation failed: {error}");
            std::process::exit(1);
        }
        let reply = format!("done {version}\n");
        if out.write_all(reply.as_bytes()).await.is_err() || out.flush().await.is_err() {
            return;
        }
    }
}
