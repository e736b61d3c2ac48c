//! A storm client's connection to the server, whatever the transport: the long-polling
//! client's keep-alive HTTP/1.1 connection, or the WebSocket client's socket (with the
//! handshake over HTTP beside it), opened again as needed, and the cookies the server set.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::wire::{self, Reply};
use super::worker::Shared;
use crate::bayeux::Transport;
use crate::http::HttpConn;
use crate::target::tcp_connect;

/// CometD's `maxNetworkDelay`: how long a request may take (a held connect: its timeout more).
pub const NETWORK_DELAY: Duration = Duration::from_secs(10);

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

enum Conn {
    None,
    Http(HttpConn),
    Ws(Box<Ws>),
}

pub struct Link {
    sh: Arc<Shared>,
    conn: Conn,
    /// `name=value; …` as the server last set them (CometD's server binds a session to its
    /// `BAYEUX_BROWSER` cookie).
    cookie: Option<String>,
}

impl Link {
    pub fn new(sh: Arc<Shared>) -> Link {
        Link {
            sh,
            conn: Conn::None,
            cookie: None,
        }
    }

    /// Drops the connection, as a network failure does.
    pub fn close(&mut self) {
        self.conn = Conn::None;
    }

    async fn open_http(&self) -> Result<HttpConn> {
        let conn = HttpConn::open(&self.sh.target, self.sh.src).await?;
        Ok(conn.forwarded_for(self.sh.forwarded_for.as_deref()))
    }

    /// A handshake over HTTP: a long-polling client sends it on its connection (a new one
    /// if that closed) and keeps it; a WebSocket client on a connection of its own, closed
    /// after, and keeps its socket (if it is still open) for the new session, as CometD's
    /// and Faye's clients do.
    pub async fn handshake(&mut self, body: String) -> Result<Reply> {
        let mut own = match &self.conn {
            Conn::Http(c) if !c.is_closed() => None,
            _ => Some(self.open_http().await?),
        };
        let res = match (&mut own, &mut self.conn) {
            (Some(c), _) | (None, Conn::Http(c)) => {
                c.post(&self.sh.target, body, self.cookie.as_deref(), NETWORK_DELAY)
                    .await
            }
            (None, _) => unreachable!("a connection is open"),
        };
        let reply = match res {
            Ok(r) => r,
            Err(e) => {
                if own.is_none() {
                    self.close();
                }
                return Err(e);
            }
        };
        if let Some(c) = reply.set_cookie {
            self.cookie = Some(c);
        }
        if let (Some(c), Transport::LongPolling) = (own, self.sh.transport) {
            self.conn = Conn::Http(c);
        }
        wire::find(wire::replies(&reply.body)?, "/meta/handshake").context("no handshake reply")
    }

    /// Sends one message on the client's transport and waits for its reply on `channel`
    /// (events and other replies are passed over), within `limit`.
    pub async fn request(&mut self, body: String, channel: &str, limit: Duration) -> Result<Reply> {
        if self.sh.transport == Transport::LongPolling {
            if !matches!(&self.conn, Conn::Http(c) if !c.is_closed()) {
                self.conn = Conn::Http(self.open_http().await?);
            }
            let Conn::Http(conn) = &mut self.conn else {
                unreachable!("opened above")
            };
            let reply = conn
                .post(&self.sh.target, body, self.cookie.as_deref(), limit)
                .await?;
            if let Some(c) = reply.set_cookie {
                self.cookie = Some(c);
            }
            return wire::find(wire::replies(&reply.body)?, channel)
                .with_context(|| format!("no {channel} reply"));
        }
        if !matches!(self.conn, Conn::Ws(_)) {
            self.conn = Conn::Ws(Box::new(self.open_ws().await?));
        }
        let Conn::Ws(ws) = &mut self.conn else {
            unreachable!("opened above")
        };
        let work = async {
            ws.send(Message::text(body)).await?;
            loop {
                let frame = ws.next().await.context("socket closed")??;
                let text = match &frame {
                    Message::Text(t) => t.as_bytes(),
                    Message::Binary(b) => b,
                    Message::Close(c) => bail!("closed by the server: {c:?}"),
                    _ => continue,
                };
                if let Some(r) = wire::find(wire::replies(text)?, channel) {
                    return Ok(r);
                }
            }
        };
        tokio::time::timeout(limit, work)
            .await
            .with_context(|| format!("no {channel} reply in time"))?
    }

    /// A WebSocket on the endpoint, with the session's cookie.
    async fn open_ws(&self) -> Result<Ws> {
        let stream = tcp_connect(self.sh.src, self.sh.target.addr).await?;
        let mut req = self.sh.target.ws_url().into_client_request()?;
        if let Some(c) = &self.cookie {
            req.headers_mut()
                .insert("cookie", HeaderValue::from_str(c)?);
        }
        if let Some(f) = &self.sh.forwarded_for {
            req.headers_mut()
                .insert("x-forwarded-for", HeaderValue::from_str(f)?);
        }
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let upgrade = tokio_tungstenite::client_async_with_config(req, stream, Some(config));
        let (ws, _) = tokio::time::timeout(NETWORK_DELAY, upgrade)
            .await
            .context("WebSocket upgrade timed out")??;
        Ok(ws)
    }
}
