//! The accept loop: one hyper connection per socket, with limits `axum::serve` does not
//! offer — a header-read timeout (slow clients), a bounded header buffer (huge headers) and
//! graceful shutdown that closes idle keep-alive connections at once.

use axum::{extract::ConnectInfo, Router};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::net::{TcpListener, TcpSocket};
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// Limits on each connection.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// A client must send a request's whole header block within this time.
    pub header_read_timeout: Duration,
    /// Largest header block (request line and headers) a client may send, in bytes.
    pub max_header_bytes: usize,
    /// Most headers one request may carry.
    pub max_headers: usize,
    /// A client must send a request body within this time.
    pub body_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Pending connections the kernel may queue before we accept them (capped by the
/// system's `net.core.somaxconn`): thousands of agents reconnecting at once must not be
/// dropped because tokio's default of 1,024 filled up.
const BACKLOG: u32 = 8192;

/// Binds `addr` with a deep accept queue.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open requests.
///
/// The router is cloned per connection (an `Arc` bump); each request gets the peer
/// address as [`ConnectInfo`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    // HTTP/1.1 only: agents, browsers behind a proxy and the SDK all speak it, and skipping
    // the HTTP/2 preface sniffing keeps each connection's read buffer at its initial 8 KiB
    // (the sniffed prefix made hyper double it) — it matters with thousands of long-polls.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8 * 1024))
        .max_headers(limits.max_headers);
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
