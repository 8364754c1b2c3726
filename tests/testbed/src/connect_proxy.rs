//! An HTTP CONNECT proxy on loopback (what a kubeconfig's `proxy-url` points at) and a
//! plain TCP forwarder (to reach a server by an address its certificate does not name).
//! Both count the connections they carried, so a test can tell they were used.

use anyhow::{Context, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A running CONNECT proxy; dropping it stops accepting connections.
pub struct ConnectProxy {
    url: String,
    tunnels: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectProxy {
    /// Listens on a free loopback port; tunnels every `CONNECT host:port` it is asked for.
    pub async fn start() -> Result<ConnectProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the CONNECT proxy to 127.0.0.1")?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let tunnels = Arc::new(AtomicUsize::new(0));
        let counted = tunnels.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                // A proxy relays small writes at once (no Nagle waits on the tunnel).
                let _ = tcp.set_nodelay(true);
                let counted = counted.clone();
                tokio::spawn(async move {
                    let _ = tunnel(tcp, &counted).await;
                });
            }
        });
        Ok(ConnectProxy { url, tunnels, task })
    }

    /// `http://127.0.0.1:PORT`: the kubeconfig's `proxy-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many tunnels were opened through this proxy.
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads `CONNECT host:port HTTP/1.1` and its headers, connects, answers 200 and copies.
async fn tunnel(tcp: TcpStream, tunnels: &AtomicUsize) -> Result<()> {
    let mut client = BufReader::new(tcp);
    let mut line = String::new();
    client.read_line(&mut line).await?;
    let mut words = line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        client
            .get_mut()
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let target = target.to_string();
    loop {
        let mut header = String::new();
        if client.read_line(&mut header).await? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut upstream = match TcpStream::connect(&target).await {
        Ok(s) => s,
        Err(_) => {
            client
                .get_mut()
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await?;
            return Ok(());
        }
    };
    let _ = upstream.set_nodelay(true);
    tunnels.fetch_add(1, Ordering::SeqCst);
    client
        .get_mut()
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    // Whatever the reader buffered past the headers belongs to the tunnel.
    let buffered = client.buffer().to_vec();
    upstream.write_all(&buffered).await?;
    let mut client = client.into_inner();
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// A running TCP forwarder; dropping it stops accepting connections.
pub struct TcpForward {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TcpForward {
    /// Listens on `bind` (e.g. `127.0.0.2:0`) and forwards each connection to `upstream`
    /// (`host:port`).
    pub async fn start(bind: &str, upstream: &str) -> Result<TcpForward> {
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the TCP forwarder to {bind}"))?;
        let addr = listener.local_addr()?;
        let upstream = upstream.to_string();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut tcp, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(&upstream).await {
                        let _ = (tcp.set_nodelay(true), up.set_nodelay(true));
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut up).await;
                    }
                });
            }
        });
        Ok(TcpForward { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

impl Drop for TcpForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}
