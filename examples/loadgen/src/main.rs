//! The load generator: replays a realistic mix against a running fmpa-app, first with the
//! cache's reads turned off, then on, and prints latency percentiles per route and the hit
//! rate of each run.
//!
//! ```text
//! cargo run --release -p fmpa-app --bin loadgen -- --url http://127.0.0.1:3000 \
//!     --clients 32 --seconds 20 --writes 0.02 --warmup 20
//! ```
//!
//! `--warmup S` runs the same mix with the cache on for S seconds before the measured run
//! with it on (not counted), so that the measure is the steady state rather than the
//! first-time misses of rarely read items.
//!
//! Most traffic reads (the seven list routes, with a skewed popularity of tenants and
//! filters, item reads, profiles, the dashboard); a fraction writes (POST/PUT/DELETE on
//! fmpa and formations), which invalidates. Assumes the app's realistic seed (20 tenants).
//!
//! It logs in first, as one seeded user per tenant (`user{k}@example.org` for tenant-k,
//! `user{N}@example.org` for tenant-0, with `--password`, default the demo password),
//! and as `--admin` (default `user1@example.org`, the platform's OPERATOR) for the
//! operations routes.

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Options {
    url: String,
    clients: usize,
    seconds: u64,
    writes: f64,
    tenants: u64,
    warmup: u64,
    password: String,
    admin: String,
    /// After the logins: a bearer token per tenant (index k: tenant-k), and the admin's.
    tokens: Vec<String>,
    admin_token: String,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        url: "http://127.0.0.1:3000".into(),
        clients: 32,
        seconds: 20,
        writes: 0.02,
        tenants: 20,
        warmup: 0,
        password: fmpa_app::credentials::DEMO_PASSWORD.to_owned(),
        admin: "user1@example.org".to_owned(),
        tokens: Vec::new(),
        admin_token: String::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => options.url = value()?,
            "--clients" => {
                options.clients = value()?.parse().map_err(|e| format!("--clients: {e}"))?
            }
            "--seconds" => {
                options.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            "--writes" => {
                options.writes = value()?.parse().map_err(|e| format!("--writes: {e}"))?
            }
            "--tenants" => {
                options.tenants = value()?.parse().map_err(|e| format!("--tenants: {e}"))?
            }
            "--warmup" => {
                options.warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?
            }
            "--password" => options.password = value()?,
            "--admin" => options.admin = value()?,
            "--help" | "-h" => {
                return Err("usage: loadgen [--url URL] [--clients N] [--seconds S] [--writes FRACTION] [--tenants N] [--warmup S] [--password P] [--admin EMAIL]".into());
            }
            other => return Err(format!("unknown argument {other}; see --help")),
        }
    }
    Ok(options)
}

/// xorshift64*: a fast, seedable generator; statistical quality is plenty for a load mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// A rank in `0..n` with Zipf-like popularity (weight 1/(rank+1)).
    fn zipf(&mut self, n: u64) -> u64 {
        let total: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
        let mut target = (self.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for k in 1..=n {
            target -= 1.0 / k as f64;
            if target <= 0.0 {
                return k - 1;
            }
        }
        n - 1
    }
}

/// One request of the mix: the route's name (for the report) and how to send it.
struct Request {
    route: &'static str,
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
}

const LISTS: &[(&str, &str, &[&str], u64)] = &[
    // (route, path, statuses, weight)
    ("GET /api/fmpa", "/api/fmpa", &["ACTIVE", "DRAFT"], 25),
    (
        "GET /api/formations",
        "/api/formations",
        &["OPEN", "CLOSED"],
        15,
    ),
    (
        "GET /api/personnel/files",
        "/api/personnel/files",
        &["ACTIVE"],
        8,
    ),
    ("GET /api/conversations", "/api/conversations", &["OPEN"], 8),
    (
        "GET /api/notifications",
        "/api/notifications",
        &["UNREAD"],
        10,
    ),
    ("GET /api/tta/entries", "/api/tta/entries", &["PENDING"], 6),
    (
        "GET /api/chat/channels",
        "/api/chat/channels",
        &["ACTIVE"],
        6,
    ),
];

fn next_request(
    rng: &mut Rng,
    options: &Options,
    created: &mut Vec<(&'static str, String)>,
) -> (usize, Request) {
    let tenant = rng.zipf(options.tenants);
    // Seeded ids of tenant k are k, k + 20, k + 40, ...: ids of this tenant, mostly recent.
    let id = |rng: &mut Rng, rows: u64| {
        tenant.max(1) + options.tenants * rng.zipf(rows / options.tenants)
    };
    if rng.chance(options.writes) {
        let table = if rng.chance(0.6) {
            "fmpa"
        } else {
            "formations"
        };
        let body = json!({"title": "Load test session", "status": if table == "fmpa" { "ACTIVE" } else { "OPEN" },
                          "location": "Caserne 1", "starts_at": 1_770_000_000, "seats": 12});
        let request = match rng.below(3) {
            0 | 1 => Request {
                route: if table == "fmpa" {
                    "POST /api/fmpa"
                } else {
                    "POST /api/formations"
                },
                method: reqwest::Method::POST,
                path: format!("/api/{table}"),
                body: Some(body),
            },
            _ => match created.pop() {
                Some((table, path)) => Request {
                    route: if table == "fmpa" {
                        "DELETE /api/fmpa/{id}"
                    } else {
                        "DELETE /api/formations/{id}"
                    },
                    method: reqwest::Method::DELETE,
                    path,
                    body: None,
                },
                None => Request {
                    route: if table == "fmpa" {
                        "PUT /api/fmpa/{id}"
                    } else {
                        "PUT /api/formations/{id}"
                    },
                    method: reqwest::Method::PUT,
                    path: format!("/api/{table}/{}", id(rng, 40_000)),
                    body: Some(body),
                },
            },
        };
        return (tenant as usize, request);
    }
    let pick = rng.below(100);
    let request = match pick {
        0..=77 => {
            let mut at = rng.below(LISTS.iter().map(|l| l.3).sum());
            let (route, path, statuses, _) = LISTS
                .iter()
                .find(|l| {
                    let hit = at < l.3;
                    at = at.saturating_sub(l.3);
                    hit
                })
                .unwrap_or(&LISTS[0]);
            let mut query = vec![];
            if rng.chance(0.5) {
                query.push(format!(
                    "status={}",
                    statuses[rng.zipf(statuses.len() as u64) as usize]
                ));
            }
            let page = 1 + rng.zipf(5);
            if page > 1 {
                query.push(format!("page={page}"));
            }
            if rng.chance(0.2) {
                query.push("limit=50".into());
            }
            Request {
                route,
                method: reqwest::Method::GET,
                path: format!("{path}?{}", query.join("&")),
                body: None,
            }
        }
        78..=87 => Request {
            route: "GET /api/fmpa/{id}",
            method: reqwest::Method::GET,
            path: format!("/api/fmpa/{}", id(rng, 40_000)),
            body: None,
        },
        88..=91 => Request {
            route: "GET /api/formations/{id}",
            method: reqwest::Method::GET,
            path: format!("/api/formations/{}", id(rng, 40_000)),
            body: None,
        },
        92..=95 => Request {
            route: "GET /api/users/{id}/profile",
            method: reqwest::Method::GET,
            path: format!("/api/users/{}/profile", id(rng, 8_000)),
            body: None,
        },
        _ => Request {
            route: "GET /api/dashboard/stats",
            method: reqwest::Method::GET,
            path: "/api/dashboard/stats".into(),
            body: None,
        },
    };
    (tenant as usize, request)
}

/// Logs in as `email`: the bearer token.
async fn login(
    client: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> Result<String, String> {
    let response = client
        .post(format!("{url}/api/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match body["token"].as_str() {
        Some(token) if status.is_success() => Ok(token.to_owned()),
        _ => Err(format!("logging in as {email}: {status} {body}")),
    }
}

/// A token per tenant (tenant-k's first seeded user is user k; tenant-0's, user N), and
/// the admin's.
async fn log_in_all(client: &reqwest::Client, options: &mut Options) -> Result<(), String> {
    for tenant in 0..options.tenants {
        let user = if tenant == 0 { options.tenants } else { tenant };
        let email = format!("user{user}@example.org");
        let token = login(client, &options.url, &email, &options.password).await?;
        options.tokens.push(token);
    }
    options.admin_token = login(client, &options.url, &options.admin, &options.password).await?;
    Ok(())
}

#[derive(Default)]
struct RunResult {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    errors: u64,
    requests: u64,
    hit_rate: Option<f64>,
    /// The hit rate of the data reads: without the `session` prefix, read on every
    /// request to authenticate it.
    data_hit_rate: Option<f64>,
    /// Per prefix, and per cached function (`prefix/name`): hits and misses during the
    /// run.
    prefix_hits: BTreeMap<String, (u64, u64)>,
    elapsed: Duration,
}

/// Hits and misses in total, and per prefix.
type Totals = ((u64, u64), BTreeMap<String, (u64, u64)>);

async fn cache_totals(client: &reqwest::Client, options: &Options) -> Result<Totals, String> {
    let url = &options.url;
    let report: Value = client
        .get(format!("{url}/api/cache/stats"))
        .bearer_auth(&options.admin_token)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("bad /api/cache/stats: {e}"))?;
    let counts = |value: &Value| {
        (
            value["hits"].as_u64().unwrap_or(0),
            value["misses"].as_u64().unwrap_or(0),
        )
    };
    let prefixes = ["prefixes", "sites"]
        .iter()
        .filter_map(|field| report[field].as_object())
        .flatten()
        .map(|(name, value)| (name.clone(), counts(value)))
        .collect();
    Ok((counts(&report["total"]), prefixes))
}

async fn run(
    client: &reqwest::Client,
    options: &Arc<Options>,
    cached: bool,
    seconds: u64,
    label: &str,
) -> Result<RunResult, String> {
    client
        .put(format!("{}/api/admin/cache", options.url))
        .bearer_auth(&options.admin_token)
        .json(&json!({ "reads_cached": cached }))
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", options.url))?
        .error_for_status()
        .map_err(|e| e.to_string())?;
    let before = cache_totals(client, options).await?;
    let bar = ProgressBar::new(seconds * 10);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {elapsed_precise} {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for client_index in 0..options.clients {
        let (client, options, done) = (client.clone(), options.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15
                ^ (client_index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
            let mut created = Vec::new();
            let mut result = RunResult::default();
            while Instant::now() < deadline {
                let (tenant, request) = next_request(&mut rng, &options, &mut created);
                let mut builder = client
                    .request(
                        request.method.clone(),
                        format!("{}{}", options.url, request.path),
                    )
                    .bearer_auth(&options.tokens[tenant]);
                if let Some(body) = &request.body {
                    builder = builder.json(body);
                }
                let sent = Instant::now();
                let response = builder.send().await;
                let took = sent.elapsed();
                result.requests += 1;
                done.fetch_add(1, Ordering::Relaxed);
                match response {
                    // A refused token is an error of the run, as a server error is.
                    Ok(response)
                        if response.status().is_server_error()
                            || response.status() == reqwest::StatusCode::UNAUTHORIZED
                            || response.status() == reqwest::StatusCode::FORBIDDEN =>
                    {
                        result.errors += 1
                    }
                    Ok(response) => {
                        let status = response.status();
                        let body = response.bytes().await.unwrap_or_default();
                        if status == reqwest::StatusCode::CREATED
                            && let Ok(row) = serde_json::from_slice::<Value>(&body)
                            && let Some(id) = row["id"].as_i64()
                        {
                            let table = if request.path.contains("fmpa") {
                                "fmpa"
                            } else {
                                "formations"
                            };
                            created.push((table, format!("/api/{table}/{id}")));
                        }
                        result
                            .latencies
                            .entry(request.route)
                            .or_default()
                            .push(took);
                    }
                    Err(_) => result.errors += 1,
                }
            }
            result
        }));
    }
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await; // progress bar refresh period
        bar.set_position((started.elapsed().as_millis() / 100) as u64);
        bar.set_message(format!("{} requests", done.load(Ordering::Relaxed)));
    }
    let mut total = RunResult::default();
    for task in tasks {
        let result = task.await.map_err(|e| e.to_string())?;
        total.requests += result.requests;
        total.errors += result.errors;
        for (route, mut latencies) in result.latencies {
            total
                .latencies
                .entry(route)
                .or_default()
                .append(&mut latencies);
        }
    }
    total.elapsed = started.elapsed();
    bar.finish_with_message(format!("{} requests", total.requests));
    let after = cache_totals(client, options).await?;
    let (hits, misses) = (after.0.0 - before.0.0, after.0.1 - before.0.1);
    total.hit_rate = (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64);
    let session = |totals: &Totals| totals.1.get("session").copied().unwrap_or_default();
    let (session_after, session_before) = (session(&after), session(&before));
    let (hits, misses) = (
        hits - (session_after.0 - session_before.0),
        misses - (session_after.1 - session_before.1),
    );
    total.data_hit_rate = (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64);
    for (prefix, (hits, misses)) in after.1 {
        let (was_hits, was_misses) = before.1.get(&prefix).copied().unwrap_or_default();
        total
            .prefix_hits
            .insert(prefix, (hits - was_hits, misses - was_misses));
    }
    Ok(total)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn report(options: &Options, off: &mut RunResult, on: &mut RunResult) {
    println!();
    println!(
        "{} clients, {} s per run, {:.0}% writes, against {}",
        options.clients,
        options.seconds,
        options.writes * 100.0,
        options.url
    );
    println!(
        "| route | requests off/on | p50 off | p50 on | p95 off | p95 on | p99 off | p99 on | p50 change |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut routes: Vec<&'static str> = off
        .latencies
        .keys()
        .chain(on.latencies.keys())
        .copied()
        .collect();
    routes.sort();
    routes.dedup();
    for route in routes {
        let a = off.latencies.entry(route).or_default();
        let b = on.latencies.entry(route).or_default();
        a.sort();
        b.sort();
        let (a50, b50) = (percentile(a, 50.0), percentile(b, 50.0));
        let change = if a50.is_zero() {
            "-".to_owned()
        } else {
            format!(
                "{:+.0}%",
                (b50.as_secs_f64() / a50.as_secs_f64() - 1.0) * 100.0
            )
        };
        println!(
            "| {route} | {}/{} | {} | {} | {} | {} | {} | {} | {change} |",
            a.len(),
            b.len(),
            ms(a50),
            ms(b50),
            ms(percentile(a, 95.0)),
            ms(percentile(b, 95.0)),
            ms(percentile(a, 99.0)),
            ms(percentile(b, 99.0)),
        );
    }
    let rate = |r: &RunResult| r.requests as f64 / r.elapsed.as_secs_f64();
    println!();
    println!(
        "throughput: {:.0} req/s without the cache, {:.0} req/s with it; errors (5xx, 401, 403): {} / {}",
        rate(off),
        rate(on),
        off.errors,
        on.errors
    );
    match (on.hit_rate, on.data_hit_rate) {
        (Some(rate), Some(data)) => println!(
            "hit rate with the cache: {:.1}% ({:.1}% without the session reads of every request)",
            rate * 100.0,
            data * 100.0
        ),
        (Some(rate), None) => println!("hit rate with the cache: {:.1}%", rate * 100.0),
        _ => println!("hit rate with the cache: no cached reads"),
    }
    let rates = |sites: bool| -> Vec<String> {
        on.prefix_hits
            .iter()
            .filter(|(name, (hits, misses))| name.contains('/') == sites && hits + misses > 0)
            .map(|(name, (hits, misses))| {
                format!(
                    "{name} {:.1}%",
                    *hits as f64 * 100.0 / (hits + misses) as f64
                )
            })
            .collect()
    };
    println!("hit rate per prefix: {}", rates(false).join(", "));
    println!("hit rate per function: {}", rates(true).join(", "));
}

#[tokio::main]
async fn main() {
    let mut options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("loadgen: {message}");
            std::process::exit(2);
        }
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.clients)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| {
            eprintln!("loadgen: {e}");
            std::process::exit(1)
        });
    if let Err(message) = log_in_all(&client, &mut options).await {
        eprintln!("loadgen: {message}");
        std::process::exit(1);
    }
    let options = Arc::new(options);
    let runs = async {
        let mut off = run(&client, &options, false, options.seconds, "cache disabled").await?;
        if options.warmup > 0 {
            run(&client, &options, true, options.warmup, "warm-up       ").await?;
        }
        let mut on = run(&client, &options, true, options.seconds, "cache enabled ").await?;
        report(&options, &mut off, &mut on);
        Ok::<_, String>(())
    };
    if let Err(message) = runs.await {
        eprintln!("loadgen: {message}");
        std::process::exit(1);
    }
}
