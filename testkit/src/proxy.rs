//! A fault-injecting TCP proxy between a client and Redis: pass, delay, blackhole, reset
//! connections, or cut a reply in the middle. Its tasks end when it is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    Pass,
    /// Hold each reply chunk this long before forwarding it.
    Delay(Duration),
    /// Stop moving bytes either way, as a frozen server or a dead route does (TCP keeps
    /// them: they flow again, in order, when the proxy passes again).
    Blackhole,
    /// Close every connection, and each new one at once.
    Reset,
    /// Forward half of the next reply chunk, then close the connection.
    CutMidReply,
    /// After relaying a request that writes (`SET`, `UNLINK`), forward the next reply
    /// chunk, then close the connection: what a connection reset right after a write
    /// was acknowledged looks like to the client.
    CloseAfterWrite,
}

/// The proxy; dropping it stops it and closes its connections.
pub struct Proxy {
    addr: SocketAddr,
    fault: watch::Sender<Fault>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (fault, _) = watch::channel(Fault::Pass);
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = {
            let (fault, tasks) = (fault.clone(), tasks.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if *fault.borrow() == Fault::Reset {
                        continue; // dropped: the client sees the connection close
                    }
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    // Without it, a request relayed in several chunks waits on Nagle's
                    // algorithm and delayed ACKs (~40 ms): a fault nobody asked for.
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let task = tokio::spawn(relay(client, server, fault.subscribe()));
                    tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
                }
            })
        };
        Proxy {
            addr,
            fault,
            tasks,
            acceptor,
        }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://` URL of the proxy.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// What it does now.
    pub fn fault(&self) -> Fault {
        *self.fault.borrow()
    }

    /// Changes what the proxy does; `Reset` also closes the open connections.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
        if fault == Fault::Reset {
            self.close_connections();
        }
    }

    fn close_connections(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.close_connections();
    }
}

/// Copies both ways, applying the current fault to the replies.
async fn relay(client: TcpStream, server: TcpStream, fault: watch::Receiver<Fault>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Set when a write went through under `CloseAfterWrite`.
    let armed = std::sync::atomic::AtomicBool::new(false);
    let requests = {
        let mut fault = fault.clone();
        let armed = &armed;
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if fault.wait_for(|f| *f != Fault::Blackhole).await.is_err() {
                    return;
                }
                if *fault.borrow() == Fault::CloseAfterWrite && is_write(&buf[..n]) {
                    armed.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    };
    let replies = async {
        let mut fault = fault;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let Ok(current) = fault.wait_for(|f| *f != Fault::Blackhole).await.map(|f| *f) else {
                return;
            };
            match current {
                Fault::Pass => {}
                Fault::Delay(delay) => tokio::time::sleep(delay).await, // the injected delay
                Fault::Blackhole | Fault::Reset => return,
                Fault::CutMidReply => {
                    let _ = client_write.write_all(&buf[..n.div_ceil(2)]).await;
                    return;
                }
                Fault::CloseAfterWrite => {
                    if armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
                        let _ = client_write.write_all(&buf[..n]).await;
                        return;
                    }
                }
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Either direction ending closes the connection.
    tokio::select! {
        _ = requests => {}
        _ = replies => {}
    }
}

/// Whether a chunk of requests holds a write (`SET` or `UNLINK`, as RESP bulk strings).
fn is_write(requests: &[u8]) -> bool {
    [&b"$3\r\nSET\r\n"[..], b"$6\r\nUNLINK\r\n"]
        .iter()
        .any(|command| {
            requests
                .windows(command.len())
                .any(|w| w.eq_ignore_ascii_case(command))
        })
}
