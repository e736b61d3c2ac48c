//! The soak's wire: the four transports a soak client speaks (long-polling POSTs, JSONP
//! GETs, an EventSource stream beside POSTs, a WebSocket) over connections that close with
//! a reset, so that dropping one is abrupt (no FIN handshake, no `/meta/disconnect`) and
//! leaves no TIME_WAIT behind on the client's ports however often clients churn.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{ACCEPT, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use hyper::{Method, Request, Response};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::http::http1_sender;
use crate::target::Target;

/// The connection types a soak client may use: `connectionType` names herald knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    LongPolling,
    WebSocket,
    EventSource,
    CallbackPolling,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::LongPolling,
        Kind::WebSocket,
        Kind::EventSource,
        Kind::CallbackPolling,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LongPolling => "long-polling",
            Kind::WebSocket => "websocket",
            Kind::EventSource => "eventsource",
            Kind::CallbackPolling => "callback-polling",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// `/meta/handshake` offering every connection type, asking for acknowledged delivery.
pub fn handshake(id: u64) -> String {
    format!(
        r#"[{{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0","supportedConnectionTypes":["websocket","long-polling","callback-polling","eventsource"],"id":"{id}","ext":{{"ack":true}}}}]"#
    )
}

/// `/meta/connect` on `kind`; the first after a handshake is answered at once (CN-4), and
/// `ack` is the last batch received, as the CometD `AckExtension` sends it.
pub fn connect(cid: &str, kind: Kind, id: u64, first: bool, ack: Option<u64>) -> String {
    let advice = if first {
        r#","advice":{"timeout":0}"#
    } else {
        ""
    };
    let ext = ack.map_or(String::new(), |b| format!(r#","ext":{{"ack":{b}}}"#));
    format!(
        r#"[{{"channel":"/meta/connect","clientId":"{cid}","connectionType":"{}","id":"{id}"{advice}{ext}}}]"#,
        kind.as_str()
    )
}

/// `/meta/disconnect`: the client leaves for good.
pub fn disconnect(cid: &str, id: u64) -> String {
    format!(r#"[{{"channel":"/meta/disconnect","clientId":"{cid}","id":"{id}"}}]"#)
}

/// Opens TCP from `src` with SO_LINGER 0: closing it sends a reset at once.
pub async fn tcp(src: Ipv4Addr, dst: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.set_zero_linger()?;
    socket
        .bind(SocketAddr::V4(SocketAddrV4::new(src, 0)))
        .with_context(|| format!("bind {src}"))?;
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(dst))
        .await
        .context("connect timed out")?
        .context("connect")?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One keep-alive HTTP/1.1 connection; dropping it (even mid-request) resets it.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(target: &Target, src: Ipv4Addr) -> Result<Conn> {
        let stream = tcp(src, target.addr).await?;
        Ok(Conn {
            sender: http1_sender(stream).await?,
        })
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    async fn send(
        &mut self,
        req: hyper::http::request::Builder,
        body: Bytes,
        cookie: &mut Option<String>,
    ) -> Result<Response<Incoming>> {
        self.sender.ready().await.context("connection closed")?;
        let req = match cookie.as_deref() {
            Some(c) => req.header(COOKIE, c),
            None => req,
        };
        let resp = self
            .sender
            .send_request(req.body(Full::new(body))?)
            .await
            .context("request")?;
        let cookies: Vec<&str> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next())
            .collect();
        if !cookies.is_empty() {
            *cookie = Some(cookies.join("; "));
        }
        Ok(resp)
    }

    /// One Bayeux exchange: a JSON POST, or for `CallbackPolling` a JSONP GET whose
    /// `/**/cb(…);` wrapper is taken off. Returns the JSON array of the reply.
    pub async fn exchange(
        &mut self,
        target: &Target,
        kind: Kind,
        body: String,
        cookie: &mut Option<String>,
        limit: Duration,
    ) -> Result<Bytes> {
        let work = async {
            let authority = target.authority.as_str();
            let resp = if kind == Kind::CallbackPolling {
                let uri = format!("{}?jsonp=cb&message={}", target.path, encode(&body));
                let req = Request::get(uri).header(HOST, authority);
                self.send(req, Bytes::new(), cookie).await?
            } else {
                let req = Request::post(target.path.as_str())
                    .header(HOST, authority)
                    .header(CONTENT_TYPE, "application/json;charset=UTF-8");
                self.send(req, Bytes::from(body), cookie).await?
            };
            let status = resp.status();
            let bytes = resp.into_body().collect().await.context("body")?.to_bytes();
            if status != hyper::StatusCode::OK {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
            }
            if kind == Kind::CallbackPolling {
                return unwrap_jsonp(&bytes);
            }
            Ok(bytes)
        };
        tokio::time::timeout(limit, work)
            .await
            .context("no answer in time")?
    }

    /// Opens the EventSource stream of `cid` (TR-4); the body is read as it comes.
    pub async fn event_stream(
        &mut self,
        target: &Target,
        cid: &str,
        cookie: &mut Option<String>,
    ) -> Result<Incoming> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("{}/{cid}", target.path.trim_end_matches('/')))
            .header(HOST, target.authority.as_str())
            .header(ACCEPT, "text/event-stream");
        let resp = tokio::time::timeout(
            Duration::from_secs(30),
            self.send(req, Bytes::new(), cookie),
        )
        .await
        .context("no stream in time")??;
        if resp.status() != hyper::StatusCode::OK {
            bail!("EventSource: HTTP {}", resp.status());
        }
        Ok(resp.into_body())
    }
}

fn unwrap_jsonp(bytes: &Bytes) -> Result<Bytes> {
    let text = std::str::from_utf8(bytes)?;
    let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else {
        bail!("not a JSONP reply: {text:.200}");
    };
    Ok(bytes.slice(open + 1..close))
}

/// Percent-encodes a query parameter's value (everything but RFC 3986's unreserved).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits an EventSource body into the JSON of its `data:` events, keeping a partial
/// event in `buf` for the next chunk.
pub fn sse_events(buf: &mut Vec<u8>, chunk: &[u8]) -> Vec<String> {
    buf.extend_from_slice(chunk);
    let mut out = Vec::new();
    while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
        let event: Vec<u8> = buf.drain(..end + 2).collect();
        let text = String::from_utf8_lossy(&event);
        let data: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            out.push(data.join("\n"));
        }
    }
    out
}

pub type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Opens a WebSocket on the endpoint with the session's cookie.
pub async fn websocket(target: &Target, src: Ipv4Addr, cookie: Option<&str>) -> Result<Ws> {
    let stream = tcp(src, target.addr).await?;
    let mut req = target.ws_url().into_client_request()?;
    if let Some(c) = cookie {
        req.headers_mut()
            .insert("cookie", HeaderValue::from_str(c)?);
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::client_async_with_config(req, stream, Some(config)),
    )
    .await
    .context("WebSocket upgrade timed out")?
    .context("WebSocket upgrade")?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sse_and_jsonp() {
        let mut buf = Vec::new();
        assert!(sse_events(&mut buf, b"retry: 5000\n\ndata: [1]").is_empty());
        assert_eq!(
            sse_events(&mut buf, b"\n\n:\n\ndata: [2]\n\n"),
            ["[1]", "[2]"]
        );
        let j = unwrap_jsonp(&Bytes::from_static(b"/**/cb([{\"a\":1}]);")).unwrap();
        assert_eq!(&j[..], b"[{\"a\":1}]");
        assert_eq!(encode("[{\"a\":1}]"), "%5B%7B%22a%22%3A1%7D%5D");
    }
}
