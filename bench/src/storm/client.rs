//! One storm client: a Bayeux client that comes back after losing its server the way the
//! CometD JavaScript client (npm `cometd`, `Client.js`) does, because that behaviour (not a
//! tight retry loop) is what a real crowd of browsers throws at a server after a restart:
//!
//! - a request that fails (refused, reset, timed out, not 200) is retried after a backoff
//!   that grows by `backoffIncrement` (1 s) up to `maxBackoff` (60 s), reset by a success;
//! - a failed `/meta/connect` turns into a handshake once the time unconnected plus the
//!   backoff passes `timeout + interval + maxInterval` (when `maxInterval` > 0);
//! - an unsuccessful reply follows `advice.reconnect` (`handshake`: handshake now; `none`:
//!   give up); a refused handshake retries with backoff unless its advice says `none`;
//! - every wait is `advice.interval` plus the backoff, so an interval in a handshake reply
//!   (or in a refusal) delays the next request;
//! - after a handshake it connects (the first connect asks `advice.timeout: 0`) and
//!   subscribes again, then holds `/meta/connect`.
//!
//! Two departures, both shared with the other scenarios of this tool: the handshake always
//! goes over HTTP (Faye needs it; CometD's client would send it on its WebSocket), and the
//! subscribe follows the first connect instead of going out from the handshake callback.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::wire::{self, Advice, Reply};
use super::worker::Shared;
use crate::bayeux::{self, Transport};
use crate::http::HttpConn;
use crate::target::tcp_connect;

/// CometD's `backoffIncrement` and `maxBackoff`.
const BACKOFF_STEP: u64 = 1_000;
const MAX_BACKOFF: u64 = 60_000;
/// CometD's `maxNetworkDelay`: how long a request may take (a held connect: its timeout more).
const NETWORK_DELAY: Duration = Duration::from_secs(10);

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// The connection a client's requests go over.
enum Link {
    None,
    Http(HttpConn),
    Ws(Box<Ws>),
}

enum Next {
    Handshake,
    Connect,
}

struct Client {
    sh: Arc<Shared>,
    local: usize,
    seq: u64,
    client_id: String,
    cookie: Option<String>,
    advice: Advice,
    backoff: u64,
    unconnected_since: Option<Instant>,
    connected: bool,
    subscribed: bool,
    ever_ready: bool,
    /// A request failed since the drop: the next time this client is connected and
    /// subscribed, it is back.
    down: bool,
    link: Link,
    /// Held until the first handshake is answered, so that set-up goes in waves.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Runs client `local` of this worker until the process ends, or until a server tells it
/// `reconnect: none`.
pub async fn run(sh: Arc<Shared>, local: usize, mut blip: watch::Receiver<u64>) {
    let permit = sh.setup.clone().acquire_owned().await.ok();
    let mut c = Client {
        sh,
        local,
        seq: 0,
        client_id: String::new(),
        cookie: None,
        advice: Advice::default(),
        backoff: 0,
        unconnected_since: None,
        connected: false,
        subscribed: false,
        ever_ready: false,
        down: false,
        link: Link::None,
        permit,
    };
    let mut next = Next::Handshake;
    let mut delay = 0;
    loop {
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if blip.has_changed().unwrap_or(false) {
            // The network went away while this client was waiting: its connections are gone.
            blip.borrow_and_update();
            c.link = Link::None;
            c.fail();
        }
        let step = match next {
            Next::Handshake => c.handshake().await,
            Next::Connect => c.connect(&mut blip).await,
        };
        match step {
            Some((n, d)) => (next, delay) = (n, d),
            None => {
                c.sh.tally.gave_up.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

impl Client {
    fn id(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Something failed: after the drop, this client is down until it is back.
    fn fail(&mut self) {
        self.permit = None;
        if self.sh.armed.load(Ordering::Relaxed) {
            self.down = true;
        }
    }

    fn note(&self, what: &str, e: &anyhow::Error) {
        let mut first = self.sh.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(format!("{what}: {e:#}"));
        }
    }

    /// CometD's `increaseBackoffPeriod`.
    fn increase_backoff(&mut self) -> u64 {
        if self.backoff < MAX_BACKOFF {
            self.backoff += BACKOFF_STEP;
        }
        self.backoff
    }

    fn take_advice(&mut self, r: &Reply) {
        if let Some(a) = &r.advice {
            self.advice = a.clone();
        }
    }

    /// Connected and subscribed: counted as set up the first time, as back after the drop.
    fn ready(&mut self) {
        self.permit = None;
        if !self.ever_ready {
            self.ever_ready = true;
            self.sh.ready.fetch_add(1, Ordering::Relaxed);
        }
        if self.down {
            self.down = false;
            let slot = &self.sh.back_us[self.local];
            let _ = slot.compare_exchange(
                0,
                crate::worker::now_us(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    async fn handshake(&mut self) -> Option<(Next, u64)> {
        self.advice = Advice::default();
        self.connected = false;
        self.subscribed = false;
        self.sh.tally.handshakes.fetch_add(1, Ordering::Relaxed);
        let body = bayeux::handshake(self.id(), false);
        let r = match self.handshake_request(body).await {
            Ok(r) => r,
            Err(e) => {
                self.sh
                    .tally
                    .handshake_errors
                    .fetch_add(1, Ordering::Relaxed);
                self.note("handshake", &e);
                self.fail();
                let delay = self.advice.interval() + self.backoff;
                self.increase_backoff();
                return Some((Next::Handshake, delay));
            }
        };
        self.take_advice(&r);
        if r.successful {
            self.client_id = r.client_id.unwrap_or_default();
            self.backoff = 0;
            self.permit = None;
            return Some((Next::Connect, self.advice.interval()));
        }
        self.sh
            .tally
            .handshakes_refused
            .fetch_add(1, Ordering::Relaxed);
        self.note(
            "handshake refused",
            &anyhow!("{}", r.error.as_deref().unwrap_or("?")),
        );
        self.fail();
        if self.advice.action("handshake") == "none" {
            return None;
        }
        let delay = self.advice.interval() + self.backoff;
        self.increase_backoff();
        Some((Next::Handshake, delay))
    }

    /// One `/meta/connect` (and, when the session has no subscription yet, the subscribe
    /// after it), and what comes next.
    async fn connect(&mut self, blip: &mut watch::Receiver<u64>) -> Option<(Next, u64)> {
        let first = !self.connected;
        let id = self.id();
        let body = bayeux::connect(&self.client_id, self.sh.transport, id, first, None);
        let limit = if first {
            NETWORK_DELAY
        } else {
            Duration::from_millis(self.advice.timeout_ms) + NETWORK_DELAY
        };
        let r = match self.request(body, "/meta/connect", limit, blip).await {
            Ok(r) => r,
            Err(e) => {
                self.sh.tally.request_errors.fetch_add(1, Ordering::Relaxed);
                self.note("connect", &e);
                return Some(self.connect_failed());
            }
        };
        self.unconnected_since = None;
        self.take_advice(&r);
        if !r.successful {
            return self.unsuccessful("connect", &r);
        }
        self.connected = true;
        self.backoff = 0;
        if !self.subscribed {
            let id = self.id();
            let body = bayeux::subscribe(&self.client_id, &self.sh.channel, id);
            match self
                .request(body, "/meta/subscribe", NETWORK_DELAY, blip)
                .await
            {
                Ok(r) if r.successful => self.subscribed = true,
                Ok(r) => {
                    self.take_advice(&r);
                    return self.unsuccessful("subscribe", &r);
                }
                Err(e) => {
                    self.sh.tally.request_errors.fetch_add(1, Ordering::Relaxed);
                    self.note("subscribe", &e);
                    return Some(self.connect_failed());
                }
            }
        }
        self.ready();
        Some((Next::Connect, self.advice.interval()))
    }

    /// A failed connect: retry with backoff, or handshake once the session must be gone.
    fn connect_failed(&mut self) -> (Next, u64) {
        self.connected = false;
        self.fail();
        let since = *self.unconnected_since.get_or_insert_with(Instant::now);
        let backoff = self.increase_backoff();
        let a = &self.advice;
        let expiry = a.timeout_ms + a.interval() + a.max_interval_ms;
        if a.max_interval_ms > 0 && since.elapsed().as_millis() as u64 + backoff > expiry {
            self.backoff = 0;
            return (Next::Handshake, self.advice.interval());
        }
        (Next::Connect, self.advice.interval() + backoff)
    }

    /// An unsuccessful connect or subscribe: do as its advice says.
    fn unsuccessful(&mut self, what: &str, r: &Reply) -> Option<(Next, u64)> {
        self.sh.tally.unsuccessful.fetch_add(1, Ordering::Relaxed);
        self.note(
            what,
            &anyhow!("unsuccessful: {}", r.error.as_deref().unwrap_or("?")),
        );
        match self.advice.action("retry") {
            "handshake" => {
                self.connected = false;
                self.fail();
                self.backoff = 0;
                Some((Next::Handshake, self.advice.interval()))
            }
            "none" => None,
            _ => Some(self.connect_failed()),
        }
    }

    /// A handshake over HTTP: a long-polling client sends it on its connection (a new one
    /// if that closed) and keeps it; a WebSocket client on a connection of its own, closed
    /// after, and keeps its socket (if it is still open) for the new session, as CometD's and
    /// Faye's clients do.
    async fn handshake_request(&mut self, body: String) -> Result<Reply> {
        let sh = self.sh.clone();
        let mut conn = match &mut self.link {
            Link::Http(c) if !c.is_closed() => None,
            _ => Some(HttpConn::open(&sh.target, sh.src).await?),
        };
        let res = match (&mut conn, &mut self.link) {
            (Some(c), _) | (None, Link::Http(c)) => {
                c.post(&sh.target, body, self.cookie.as_deref(), NETWORK_DELAY)
                    .await
            }
            (None, _) => unreachable!("a connection is open"),
        };
        let reply = match res {
            Ok(r) => r,
            Err(e) => {
                if conn.is_none() {
                    self.link = Link::None;
                }
                return Err(e);
            }
        };
        if let Some(c) = reply.set_cookie {
            self.cookie = Some(c);
        }
        if let (Some(c), Transport::LongPolling) = (conn, sh.transport) {
            self.link = Link::Http(c);
        }
        wire::find(wire::replies(&reply.body)?, "/meta/handshake").context("no handshake reply")
    }

    /// Sends one message and waits for its reply on `channel`, within `limit`; a network
    /// blip (or any failure) closes the client's connection.
    async fn request(
        &mut self,
        body: String,
        channel: &str,
        limit: Duration,
        blip: &mut watch::Receiver<u64>,
    ) -> Result<Reply> {
        let res = tokio::select! {
            r = self.exchange(body, channel, limit) => r,
            _ = blip.changed() => Err(anyhow!("network blip: connection dropped")),
        };
        if res.is_err() {
            self.link = Link::None;
        }
        res
    }

    async fn exchange(&mut self, body: String, channel: &str, limit: Duration) -> Result<Reply> {
        let sh = self.sh.clone();
        if sh.transport == Transport::LongPolling {
            if !matches!(&self.link, Link::Http(c) if !c.is_closed()) {
                self.link = Link::Http(HttpConn::open(&sh.target, sh.src).await?);
            }
            let Link::Http(conn) = &mut self.link else {
                unreachable!("opened above")
            };
            let reply = conn
                .post(&sh.target, body, self.cookie.as_deref(), limit)
                .await?;
            if let Some(c) = reply.set_cookie {
                self.cookie = Some(c);
            }
            return wire::find(wire::replies(&reply.body)?, channel)
                .with_context(|| format!("no {channel} reply"));
        }
        if !matches!(self.link, Link::Ws(_)) {
            self.link = Link::Ws(Box::new(self.open_ws().await?));
        }
        let Link::Ws(ws) = &mut self.link else {
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

    /// A WebSocket on the endpoint, with the session's cookie (CometD's server binds the
    /// session to its `BAYEUX_BROWSER` cookie).
    async fn open_ws(&self) -> Result<Ws> {
        let stream = tcp_connect(self.sh.src, self.sh.target.addr).await?;
        let mut req = self.sh.target.ws_url().into_client_request()?;
        if let Some(c) = &self.cookie {
            req.headers_mut()
                .insert("cookie", HeaderValue::from_str(c)?);
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
