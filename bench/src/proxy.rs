//! A TCP proxy on loopback that counts the bytes it forwards, each way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The bytes forwarded so far.
#[derive(Debug, Default)]
pub struct Counters {
    /// From the client (the exporter) to the server (vCenter).
    pub to_server: AtomicU64,
    /// From the server to the client.
    pub to_client: AtomicU64,
    pub connections: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub to_server: u64,
    pub to_client: u64,
    pub connections: u64,
}

impl Traffic {
    pub fn since(self, earlier: Traffic) -> Traffic {
        Traffic {
            to_server: self.to_server - earlier.to_server,
            to_client: self.to_client - earlier.to_client,
            connections: self.connections - earlier.connections,
        }
    }

    pub fn total(self) -> u64 {
        self.to_server + self.to_client
    }
}

/// The proxy, stopped when dropped (with every connection it forwards).
#[derive(Debug)]
pub struct Proxy {
    pub address: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept(listener, upstream, Arc::clone(&counters)));
        Ok(Proxy {
            address,
            counters,
            task,
        })
    }

    pub fn traffic(&self) -> Traffic {
        Traffic {
            to_server: self.counters.to_server.load(Ordering::Relaxed),
            to_client: self.counters.to_client.load(Ordering::Relaxed),
            connections: self.counters.connections.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, counters: Arc<Counters>) {
    // The forwarding tasks are aborted with the proxy's task.
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let counters = Arc::clone(&counters);
        connections.spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            forward_both(client, server, counters).await;
        });
    }
}

async fn forward_both(client: TcpStream, server: TcpStream, counters: Arc<Counters>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = forward(client_read, server_write, Arc::clone(&counters), true);
    let down = forward(server_read, client_write, counters, false);
    tokio::join!(up, down);
}

/// Copies until EOF or an error, counting as it goes (not at the end: connections kept
/// alive would otherwise count nothing for minutes).
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counters: Arc<Counters>,
    to_server: bool,
) {
    let counter = if to_server {
        &counters.to_server
    } else {
        &counters.to_client
    };
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
