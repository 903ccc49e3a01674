//! Loopback ports: whether a Redis answers on one, and one nothing listens on.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
