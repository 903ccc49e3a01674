//! `cargo run -p fmpa-app`: the API on 127.0.0.1:3000 (see the crate docs for the
//! environment it reads).

use cache_core::Cache;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match fmpa_app::Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("fmpa-app: {error}");
            std::process::exit(2);
        }
    };
    let cache = Cache::from_env_with(fmpa_app::cache_defaults()).await;
    cache_core::install(cache.clone());
    let database = redact(&config.database_url);
    println!("fmpa-app: preparing {database} (seeding on first run)...");
    let running = match fmpa_app::start(&config, cache.clone()).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("fmpa-app: cannot start: {error}");
            std::process::exit(1);
        }
    };
    println!("fmpa-app: listening on http://{}", running.addr);
    println!(
        "fmpa-app: database {database}{}",
        if running.seeded { " (seeded now)" } else { "" }
    );
    println!(
        "fmpa-app: cache {}",
        if cache.is_redis() {
            "Redis (REDIS_URL)"
        } else {
            "in-process memory (set REDIS_URL for Redis)"
        }
    );
    if cache.is_redis() && std::env::var_os("CACHE_ENCRYPTION_KEYS").is_none() {
        println!(
            "fmpa-app: sessions and profiles are not cached: they are sensitive, and CACHE_ENCRYPTION_KEYS is unset (see README)"
        );
    }
    if config.auth.ephemeral {
        println!(
            "fmpa-app: AUTH_SECRET is unset: tokens are signed with a key of this process (they end with it; other instances refuse them)"
        );
    }
    let addr = running.addr;
    println!(
        "fmpa-app: try  TOKEN=$(curl -s -d '{{\"email\":\"user1@example.org\",\"password\":\"{}\"}}' -H 'content-type: application/json' http://{addr}/api/auth/login | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')",
        fmpa_app::credentials::DEMO_PASSWORD
    );
    println!(
        "fmpa-app:      curl -H \"Authorization: Bearer $TOKEN\" 'http://{addr}/api/fmpa?status=ACTIVE'"
    );
    tokio::select! {
        result = running.server => {
            if let Ok(Err(error)) = result {
                eprintln!("fmpa-app: server error: {error}");
                std::process::exit(1);
            }
        }
        _ = tokio::signal::ctrl_c() => println!("fmpa-app: bye"),
    }
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
