//! Private `redis-server` processes for the tests that stop, freeze or restart Redis
//! (never the shared one).

use crate::{TlsFiles, free_port, ping, unique_namespace};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private `redis-server` on a free loopback port, killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    tls: bool,
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
