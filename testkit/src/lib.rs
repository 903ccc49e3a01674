//! Test support: the shared Redis of the test run, a namespace per test that is cleaned
//! up even when the test fails, private `redis-server` processes for tests that stop,
//! freeze or restart Redis (never the shared one), and a fault-injecting proxy.

mod cluster;
mod proxy;
mod target;

pub use cluster::{RedisCluster, redis_cli};
pub use proxy::{Fault, Proxy};
pub use target::Target;

use cache_core::Cache;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A small seeded generator (xorshift64) for randomised tests: reproducible per seed.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The Redis the test run uses: `REDIS_URL`, else the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A namespace no other test (or test run) uses.
pub fn unique_namespace(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "test-{test}-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A cache on the shared Redis under a namespace of its own, whose keys are deleted when
/// it is dropped (also when the test panics).
pub struct ScopedCache {
    /// The cache under test.
    pub cache: Cache,
    target: Target,
}

impl std::ops::Deref for ScopedCache {
    type Target = Cache;
    fn deref(&self) -> &Cache {
        &self.cache
    }
}

/// The builder tests use on one server at `url` (see [`Target::builder`]).
pub fn test_builder(url: &str, namespace: &str) -> cache_core::CacheBuilder {
    Target::Single(url.to_owned()).builder(namespace)
}

/// A cache on the Redis this run targets ([`Target::from_env`]: one server, a cluster or
/// TLS), in a fresh namespace.
pub async fn redis_cache(test: &str) -> ScopedCache {
    let target = Target::from_env();
    let namespace = unique_namespace(test);
    let cache = target
        .builder(&namespace)
        .build()
        .await
        .unwrap_or_else(|e| panic!("the tests need {target} (see scripts/test.sh): {e}"));
    assert_eq!(
        cache.is_cluster(),
        matches!(target, Target::Cluster(_)),
        "the cache runs on {target}"
    );
    ScopedCache { cache, target }
}

impl Drop for ScopedCache {
    fn drop(&mut self) {
        let builder = self
            .target
            .connect()
            .namespace(self.cache.namespace())
            .op_timeout(Duration::from_secs(5));
        // Drop cannot await: clean up on a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(cache) = builder.build().await {
                    let _ = cache.try_delete_pattern("*").await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Sends `PING` over plain TCP; true on `+PONG` (or a NOAUTH error: the server is up).
pub fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 16];
    match stream.read(&mut reply) {
        Ok(n) => reply[..n].starts_with(b"+PONG") || reply[..n].starts_with(b"-NOAUTH"),
        Err(_) => false,
    }
}

/// A port nothing listens on (at the time of asking), below the kernel's ephemeral range
/// (32768 and up on Linux): a server killed by a test can then start again on its port,
/// which an outgoing connection could otherwise have taken as its local port meanwhile.
/// Each process walks its own stretch of 10000..30000, from an offset of its pid.
pub fn free_port() -> u16 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    const FIRST: u64 = 10_000;
    const SPAN: u64 = 20_000;
    let start = u64::from(std::process::id()) * 211;
    for _ in 0..SPAN {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN);
}

/// A private `redis-server` on a free loopback port, killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    tls: bool,
}

/// PEM files made for one test with the `openssl` command: a CA, a server certificate
/// for `127.0.0.1` and `localhost` signed by it, and a client certificate.
pub struct TlsFiles {
    dir: PathBuf,
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server's certificate and key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate and key signed by the CA.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Generates a fresh CA and certificates in a directory of their own.
    pub fn generate() -> TlsFiles {
        let dir = std::env::temp_dir().join(unique_namespace("tls"));
        std::fs::create_dir_all(&dir).expect("create a directory for certificates");
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap_or_else(|e| panic!("the TLS tests need the `openssl` command ({e}); Debian: apt-get install openssl"));
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=cache-core test CA",
        ]);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .expect("write server.ext");
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n")
            .expect("write client.ext");
        for (name, subject) in [
            ("server", "/CN=localhost"),
            ("client", "/CN=cache-core test client"),
        ] {
            let (key, csr, crt, ext) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
                format!("{name}.ext"),
            );
            openssl(&[
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
                subject,
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ]);
        }
        TlsFiles {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            dir,
        }
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RedisServer {
    /// Starts a server with no persistence.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra arguments (e.g. `["--requirepass", "pw"]`).
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(unique_namespace("redis-server"));
        std::fs::create_dir_all(&dir).expect("create a directory for redis-server");
        let mut server = Self {
            child: None,
            port: free_port(),
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            tls: false,
        };
        server.spawn();
        server
    }

    /// Starts a server that speaks only TLS, with `files`' server certificate; with
    /// `client_certs`, it requires a client certificate signed by the CA.
    pub fn start_tls(files: &TlsFiles, client_certs: bool) -> Self {
        Self::start_tls_with(files, client_certs, &[])
    }

    /// [`RedisServer::start_tls`] with extra arguments.
    pub fn start_tls_with(files: &TlsFiles, client_certs: bool, more: &[&str]) -> Self {
        let port = free_port();
        let path = |p: &PathBuf| p.display().to_string();
        let extra = [
            "--tls-port".to_owned(),
            port.to_string(),
            "--tls-cert-file".to_owned(),
            path(&files.server_cert),
            "--tls-key-file".to_owned(),
            path(&files.server_key),
            "--tls-ca-cert-file".to_owned(),
            path(&files.ca),
            "--tls-auth-clients".to_owned(),
            if client_certs { "yes" } else { "no" }.to_owned(),
        ];
        let dir = std::env::temp_dir().join(unique_namespace("redis-server"));
        std::fs::create_dir_all(&dir).expect("create a directory for redis-server");
        let mut server = Self {
            child: None,
            port,
            dir,
            extra: extra
                .into_iter()
                .chain(more.iter().map(|s| s.to_string()))
                .collect(),
            tls: true,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let port = if self.tls {
            "0".to_owned()
        } else {
            self.port.to_string()
        };
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("these tests start their own redis-server and could not run it ({e}); install Redis (Debian: apt-get install redis-server) or run ./scripts/test.sh, which does")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        // A TLS server cannot be PINGed in plain text: a TCP accept means it is up.
        let ready = |addr| {
            if self.tls {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            } else {
                ping(addr)
            }
        };
        while !ready(self.addr()) {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not start; its log ends with:\n{}",
                self.port,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(10)); // polling a readiness condition
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill {signal} failed");
        }
    }

    /// Whether the process runs (it was not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Thaws a frozen server (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// Writes a snapshot (`SAVE`) that a restart on the same directory loads back: how a
    /// test brings old data back, as a failover to a lagging replica would.
    pub fn save(&self) {
        let mut stream = TcpStream::connect(self.addr()).expect("connect to redis-server");
        stream.write_all(b"SAVE\r\n").expect("send SAVE");
        let mut reply = [0u8; 16];
        let n = stream.read(&mut reply).expect("read SAVE reply");
        assert!(
            reply[..n].starts_with(b"+OK"),
            "SAVE failed: {:?}",
            &reply[..n]
        );
    }

    /// Kills the server and starts it again on the same port and directory (empty,
    /// unless [`RedisServer::save`] left a snapshot there).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts the server again after [`RedisServer::kill`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.thaw();
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
