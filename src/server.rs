//! The HTTP server: accepts TCP connections and serves a router on each over HTTP/1.1,
//! WebSocket upgrades included, until a shutdown signal; then lets each connection finish.
//!
//! This is hyper's own HTTP/1.1 connection rather than `axum::serve`: axum's server first
//! sniffs every connection for HTTP/2, and the wrapper that does so stays for the
//! connection's life, about 6 KB per client. Bayeux clients speak HTTP/1.1 (long-polling,
//! JSONP, EventSource, and the WebSocket handshake), and a server holding tens of thousands
//! of idle connects pays that per connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::traffic::{Limit, Traffic};

/// How long accepting pauses after an error such as running out of file descriptors, so
/// the loop does not spin while connections close.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long shutdown waits for a connection to finish its exchange. Held connects answer at
/// once, so only a client stalled mid-exchange (one that stopped reading its answer, with
/// the socket's buffers full) is still open after this, and it may not keep the server
/// from stopping.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How connections are served.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a connection may take to send a request's headers, counted from when it
    /// opens or from its previous answer; then it is closed (LIM-1). One timer, hyper's
    /// header read timeout, bounds both a client that never finishes its headers and an
    /// idle keep-alive connection.
    pub idle_timeout: Duration,
    /// The most connections served at once (LIM-9); past it a new connection is answered
    /// 503 with `Retry-After` and closed, rather than left unanswered.
    pub max_connections: usize,
    /// Where refused connections are counted, for the metrics.
    pub traffic: Option<Arc<Traffic>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            idle_timeout: crate::Config::default().idle_timeout,
            max_connections: default_max_connections(),
            traffic: None,
        }
    }
}

/// Nine tenths of the files this process may open, leaving the rest for what else it
/// opens (the listener, log files, connections to backends) and for the 503s themselves.
pub fn default_max_connections() -> usize {
    let files = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    usize::try_from(files / 10 * 9)
        .unwrap_or(usize::MAX)
        .max(16)
}

/// How many connections the kernel may queue before herald accepts them. Tokio's default
/// (1,024) drops the SYNs of a reconnect storm (thousands of clients in the same second),
/// which then retry after 1, 3 and 7 s; the kernel caps this at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4_096;

/// A listener on `address` with room in its accept queue for a reconnect storm.
pub fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The answer to a connection over the limit, whatever it asked.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\
Content-Type: text/plain\r\nContent-Length: 29\r\nConnection: close\r\n\r\n\
too many connections, retry\r\n";

/// How long a refused connection is given to send its request (read and thrown away, so
/// closing does not reset the connection before the 503 is read).
const REFUSE_TIME: Duration = Duration::from_millis(200);

/// Serves `router` on `listener` with the default [`Options`]; see [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_with(listener, router, Options::default(), shutdown).await
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, asks every
/// connection to close once its current exchange is answered, and returns when all have
/// (a connection still busy 10 s after that is dropped).
/// Whoever resolves `shutdown` must also make held exchanges answer (see
/// [`crate::Herald::shutdown`]), or this waits for them.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tcp;
        if connections.len() >= options.max_connections {
            if let Some(traffic) = &options.traffic {
                traffic.hit(Limit::Connections);
            }
            // Refusals are tracked too, and dropped at once past twice the limit: a flood
            // of them may not take the files the limit keeps free.
            if connections.len() < options.max_connections * 2 {
                connections.spawn(refuse(tcp));
            }
            continue;
        }
        connections.spawn(serve_connection(
            tcp,
            peer,
            router.clone(),
            options.idle_timeout,
            stopping.clone(),
        ));
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Answers 503 (LIM-9): reads what the client sent for a moment, answers, and closes.
async fn refuse(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = [0u8; 4096];
    let _ = tokio::time::timeout(REFUSE_TIME, tcp.read(&mut request)).await;
    let answer = async {
        tcp.write_all(FULL).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(REFUSE_TIME, answer).await;
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    idle_timeout: Duration,
    stopping: CancellationToken,
) {
    // Bayeux replies and pushes are small writes that must leave at once: no Nagle delay.
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    // Every request learns the peer's address as axum's `ConnectInfo`, which is also what
    // `axum::serve(.., into_make_service_with_connect_info)` gives it.
    let service = router.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopping.cancelled() => {
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(SHUTDOWN_GRACE, connection).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::debug!("connection still busy after the shutdown grace period: closed");
                    return;
                }
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}
