//! One HTTP/1.1 keep-alive connection (hyper's client connection, no pool) from a chosen
//! loopback source address, for long-polling POSTs. A simulated client owns one or two of
//! these; it reconnects by opening a new one.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::target::{tcp_connect, Target};

/// A POST's answer: the body and the cookies the server set (`name=value; …`).
pub struct Reply {
    pub body: Bytes,
    pub set_cookie: Option<String>,
}

/// An open HTTP/1.1 connection.
/// Starts HTTP/1.1 on `stream`, its I/O driven by a task of its own that ends with it.
pub async fn http1_sender(stream: TcpStream) -> Result<http1::SendRequest<Full<Bytes>>> {
    let (sender, conn) = http1::Builder::new()
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

pub struct HttpConn {
    sender: http1::SendRequest<Full<Bytes>>,
    last_used: Instant,
    /// Sent as `X-Forwarded-For`, as a reverse proxy in front of the server would.
    forwarded_for: Option<String>,
}

impl HttpConn {
    /// Connects from `src` and starts the connection's I/O task.
    pub async fn open(target: &Target, src: Ipv4Addr) -> Result<HttpConn> {
        let stream = tcp_connect(src, target.addr).await?;
        Ok(HttpConn {
            sender: http1_sender(stream).await?,
            last_used: Instant::now(),
            forwarded_for: None,
        })
    }

    /// Requests on this connection claim to come from `address` through a local proxy.
    pub fn forwarded_for(mut self, address: Option<&str>) -> HttpConn {
        self.forwarded_for = address.map(str::to_string);
        self
    }

    /// Whether the connection is closed (by the server, or after an error).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Whether the server closed the connection, or may be about to: it has been idle long
    /// enough for a keep-alive timeout (Node closes idle connections after 5 s), and a request
    /// sent now could cross the server's close.
    pub fn is_stale(&self) -> bool {
        self.sender.is_closed() || self.last_used.elapsed() > Duration::from_secs(2)
    }

    /// POSTs a JSON body and reads the whole answer, within `limit`. A status other than
    /// 200 is an error.
    pub async fn post(
        &mut self,
        target: &Target,
        body: String,
        cookie: Option<&str>,
        limit: Duration,
    ) -> Result<Reply> {
        self.last_used = Instant::now();
        let work = async {
            self.sender.ready().await.context("connection closed")?;
            let mut req = Request::post(target.path.as_str())
                .header(HOST, target.authority.as_str())
                .header(CONTENT_TYPE, "application/json;charset=UTF-8");
            if let Some(c) = cookie {
                req = req.header(COOKIE, c);
            }
            if let Some(f) = &self.forwarded_for {
                req = req.header("x-forwarded-for", f.as_str());
            }
            let req = req.body(Full::new(Bytes::from(body)))?;
            let resp = self.sender.send_request(req).await.context("request")?;
            let status = resp.status();
            let mut cookies: Vec<String> = Vec::new();
            for v in resp.headers().get_all(SET_COOKIE) {
                if let Ok(s) = v.to_str() {
                    if let Some(pair) = s.split(';').next() {
                        cookies.push(pair.trim().to_string());
                    }
                }
            }
            let body = resp.into_body().collect().await.context("body")?.to_bytes();
            if status != hyper::StatusCode::OK {
                bail!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                );
            }
            let set_cookie = (!cookies.is_empty()).then(|| cookies.join("; "));
            Ok(Reply { body, set_cookie })
        };
        tokio::time::timeout(limit, work)
            .await
            .context("no answer in time")?
    }
}
