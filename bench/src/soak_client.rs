//! One soak subscriber: a Bayeux client with acknowledged delivery on one of the four
//! transports, subscribed to one channel, which churns at random while the soak runs: it
//! drops its connection abruptly and comes back with the same clientId, switches between
//! long-polling and WebSocket with the same clientId (as a Faye client does), or
//! disconnects for good and is replaced by a new client (a new account in the ledger).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::Message;

use crate::bayeux::{self, AckState, Parsed, ReplyKind};
use crate::soak_wire::{self as wire, Conn, Kind};
use crate::soak_worker::{Ctx, Rng};

/// How a stretch on one connection ended.
enum Outcome {
    Leave,
    Churn,
    Broken(anyhow::Error),
    /// The server ended the session (`reconnect: handshake`).
    Gone,
}

/// A client's session: what a CometD client keeps between connections.
struct Session {
    cid: String,
    cookie: Option<String>,
    ack: AckState,
    next_id: u64,
    kind: Kind,
    timeout_ms: u64,
    acct: usize,
    /// A long-polling or JSONP connection kept across polls.
    conn: Option<Conn>,
}

impl Session {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The transport of its plain HTTP exchanges (handshake, subscribe, disconnect).
    fn http_kind(&self) -> Kind {
        match self.kind {
            Kind::CallbackPolling => Kind::CallbackPolling,
            _ => Kind::LongPolling,
        }
    }

    /// Reads a reply: the ack extension's state, then the deliveries. `true` when the
    /// server says the session is gone.
    fn take_in(&mut self, ctx: &Ctx, p: &Parsed) -> bool {
        let c = ctx.counters(self.kind);
        let mut gone = false;
        for r in &p.replies {
            match r.kind {
                ReplyKind::Handshake => self.ack.handshake(r),
                ReplyKind::Connect => {
                    c.connects.fetch_add(1, Ordering::Relaxed);
                    if self.ack.connect(r) {
                        c.ack_batches.fetch_add(1, Ordering::Relaxed);
                    }
                    gone |= r.rehandshake;
                    if !r.successful && !r.rehandshake {
                        ctx.failure(self.kind, "connect", r.error.as_deref());
                    }
                }
                _ if !r.successful => ctx.failure(self.kind, "meta", r.error.as_deref()),
                _ => {}
            }
        }
        ctx.record(self.acct, p);
        gone
    }

    async fn exchange(&mut self, ctx: &Ctx, conn: &mut Conn, body: String) -> Result<Parsed> {
        let (kind, limit) = (self.http_kind(), self.limit());
        let bytes = conn
            .exchange(&ctx.target, kind, body, &mut self.cookie, limit)
            .await?;
        let p = bayeux::parse(&bytes)?;
        if self.take_in(ctx, &p) {
            anyhow::bail!("session gone");
        }
        Ok(p)
    }

    /// Handshake, first connect and subscribe, over HTTP.
    async fn setup(&mut self, ctx: &Ctx, channel: &str) -> Result<()> {
        let mut conn = Conn::open(&ctx.target, ctx.src).await?;
        let id = self.id();
        let p = self.exchange(ctx, &mut conn, wire::handshake(id)).await?;
        let hs = p
            .reply(ReplyKind::Handshake)
            .context("no handshake reply")?;
        if !hs.successful {
            anyhow::bail!("handshake: {}", hs.error.as_deref().unwrap_or("?"));
        }
        self.cid = hs.client_id.clone().context("no clientId")?;
        self.timeout_ms = hs.timeout_ms.unwrap_or(30_000);
        if !self.ack.granted() {
            ctx.counters(self.kind)
                .ack_refused
                .fetch_add(1, Ordering::Relaxed);
        }
        let first_kind = match self.kind {
            Kind::WebSocket => Kind::LongPolling,
            k => k,
        };
        let id = self.id();
        let body = wire::connect(&self.cid, first_kind, id, true, self.ack.outgoing());
        self.exchange(ctx, &mut conn, body).await?;
        let id = self.id();
        let p = self
            .exchange(ctx, &mut conn, bayeux::subscribe(&self.cid, channel, id))
            .await?;
        match p.reply(ReplyKind::Subscribe) {
            Some(r) if r.successful => {}
            r => anyhow::bail!("subscribe: {:?}", r.and_then(|r| r.error.clone())),
        }
        if matches!(self.kind, Kind::LongPolling | Kind::CallbackPolling) {
            self.conn = Some(conn);
        }
        Ok(())
    }

    async fn disconnect(&mut self, ctx: &Ctx) {
        self.conn = None;
        let id = self.id();
        let body = wire::disconnect(&self.cid, id);
        let res = async {
            let mut conn = Conn::open(&ctx.target, ctx.src).await?;
            self.exchange(ctx, &mut conn, body).await
        };
        if let Err(e) = res.await {
            ctx.error(self.kind, "disconnect", &e);
        }
    }

    fn limit(&self) -> Duration {
        Duration::from_millis(self.timeout_ms + 15_000)
    }

    /// Polls (long-polling or JSONP) until something ends the stretch.
    async fn poll(&mut self, ctx: &Ctx, rng: &mut Rng) -> Outcome {
        let mut conn = match self.conn.take() {
            Some(c) if !c.is_closed() => c,
            _ => match Conn::open(&ctx.target, ctx.src).await {
                Ok(c) => c,
                Err(e) => return Outcome::Broken(e),
            },
        };
        let mut mode = ctx.mode.clone();
        let mut churn: Option<Instant> = None;
        loop {
            churn = churn.or_else(|| ctx.churn_at(rng));
            let id = self.id();
            let body = wire::connect(&self.cid, self.kind, id, false, self.ack.outgoing());
            let (kind, limit) = (self.kind, self.limit());
            let res = tokio::select! {
                _ = crate::soak_worker::leaving(&mut mode) => return Outcome::Leave,
                _ = sleep_until(churn.unwrap_or_else(far).into()) => return Outcome::Churn,
                r = conn.exchange(&ctx.target, kind, body, &mut self.cookie, limit) => r,
            };
            let p = match res.and_then(|b| bayeux::parse(&b)) {
                Ok(p) => p,
                Err(e) => return Outcome::Broken(e),
            };
            if self.take_in(ctx, &p) {
                return Outcome::Gone;
            }
            if p.reply(ReplyKind::Connect).is_none_or(|r| !r.successful) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if conn.is_closed() {
                return Outcome::Broken(anyhow!("the server closed the connection"));
            }
        }
    }

    /// Connects over a WebSocket, answering each connect reply with the next connect.
    async fn socket(&mut self, ctx: &Ctx, rng: &mut Rng) -> Outcome {
        let mut ws = match wire::websocket(&ctx.target, ctx.src, self.cookie.as_deref()).await {
            Ok(ws) => ws,
            Err(e) => return Outcome::Broken(e),
        };
        let mut mode = ctx.mode.clone();
        let mut churn: Option<Instant> = None;
        let mut sent_at;
        macro_rules! send_connect {
            () => {{
                let id = self.id();
                let body =
                    wire::connect(&self.cid, Kind::WebSocket, id, false, self.ack.outgoing());
                sent_at = Instant::now();
                if let Err(e) = ws.send(Message::text(body)).await {
                    return Outcome::Broken(e.into());
                }
            }};
        }
        send_connect!();
        loop {
            churn = churn.or_else(|| ctx.churn_at(rng));
            let frame = tokio::select! {
                _ = crate::soak_worker::leaving(&mut mode) => return Outcome::Leave,
                _ = sleep_until(churn.unwrap_or_else(far).into()) => return Outcome::Churn,
                _ = sleep_until((sent_at + self.limit()).into()) => {
                    return Outcome::Broken(anyhow!("no connect reply in time"));
                }
                f = ws.next() => f,
            };
            let p = match frame {
                Some(Ok(Message::Text(t))) => bayeux::parse(t.as_bytes()),
                Some(Ok(Message::Close(c))) => Err(anyhow!("closed by the server: {c:?}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => Err(e.into()),
                None => Err(anyhow!("socket closed")),
            };
            let p = match p {
                Ok(p) => p,
                Err(e) => return Outcome::Broken(e),
            };
            if self.take_in(ctx, &p) {
                return Outcome::Gone;
            }
            if p.reply(ReplyKind::Connect).is_some() {
                send_connect!();
            }
        }
    }

    /// An EventSource stream for deliveries, with a connect POSTed as heartbeat.
    async fn stream(&mut self, ctx: &Ctx, rng: &mut Rng) -> Outcome {
        let opened = async {
            let mut post = Conn::open(&ctx.target, ctx.src).await?;
            let id = self.id();
            let body = wire::connect(&self.cid, Kind::EventSource, id, false, self.ack.outgoing());
            self.exchange(ctx, &mut post, body).await?;
            let mut get = Conn::open(&ctx.target, ctx.src).await?;
            let body = get
                .event_stream(&ctx.target, &self.cid, &mut self.cookie)
                .await?;
            anyhow::Ok((post, get, body))
        };
        let (mut post, _get, mut body) = match opened.await {
            Ok(x) => x,
            Err(e) if e.to_string() == "session gone" => return Outcome::Gone,
            Err(e) => return Outcome::Broken(e),
        };
        let mut mode = ctx.mode.clone();
        let mut churn: Option<Instant> = None;
        let mut buf = Vec::new();
        // With acknowledged delivery the connects carry the messages (ACK-1), so each reply
        // is answered by the next connect, as a long-polling client does.
        let heartbeat = match self.ack.granted() {
            true => Duration::ZERO,
            false => Duration::from_millis(self.timeout_ms.clamp(1_000, 25_000)),
        };
        let mut beat_at = Instant::now() + heartbeat;
        loop {
            churn = churn.or_else(|| ctx.churn_at(rng));
            let frame = tokio::select! {
                _ = crate::soak_worker::leaving(&mut mode) => return Outcome::Leave,
                _ = sleep_until(churn.unwrap_or_else(far).into()) => return Outcome::Churn,
                _ = sleep_until(beat_at.into()) => {
                    let id = self.id();
                    let b = wire::connect(&self.cid, Kind::EventSource, id, false, self.ack.outgoing());
                    if let Err(e) = self.exchange(ctx, &mut post, b).await {
                        return Outcome::Broken(e);
                    }
                    beat_at = Instant::now() + heartbeat;
                    continue;
                }
                f = body.frame() => f,
            };
            let chunk = match frame {
                Some(Ok(f)) => match f.into_data() {
                    Ok(d) => d,
                    Err(_) => continue,
                },
                Some(Err(e)) => return Outcome::Broken(e.into()),
                None => return Outcome::Broken(anyhow!("the stream ended")),
            };
            for json in wire::sse_events(&mut buf, &chunk) {
                match bayeux::parse(json.as_bytes()) {
                    Ok(p) => {
                        if self.take_in(ctx, &p) {
                            return Outcome::Gone;
                        }
                    }
                    Err(e) => return Outcome::Broken(e),
                }
            }
        }
    }

    async fn drive(&mut self, ctx: &Ctx, rng: &mut Rng) -> Outcome {
        match self.kind {
            Kind::LongPolling | Kind::CallbackPolling => self.poll(ctx, rng).await,
            Kind::WebSocket => self.socket(ctx, rng).await,
            Kind::EventSource => self.stream(ctx, rng).await,
        }
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// What a churn event does.
enum Churn {
    /// Drop the connection abruptly; come back after a pause with the same clientId.
    Drop,
    /// Come back at once on the other transport (long-polling ↔ WebSocket).
    Switch,
    /// Disconnect for good; a new client takes the place.
    Quit,
}

fn pick(class: Kind, rng: &mut Rng) -> Churn {
    let r = rng.unit();
    let switches = matches!(class, Kind::LongPolling | Kind::WebSocket);
    match (switches, r) {
        (_, r) if r < 0.4 => Churn::Drop,
        (true, r) if r < 0.8 => Churn::Switch,
        (false, r) if r < 0.7 => Churn::Drop,
        _ => Churn::Quit,
    }
}

/// A subscriber for its whole life, replacements included.
pub async fn subscriber(ctx: Arc<Ctx>, class: Kind, channel: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let name = ctx.channel_name(channel);
    let mut told_ready = false;
    loop {
        let acct = ctx.book.lock().unwrap().open(class, channel);
        let mut s = Session {
            cid: String::new(),
            cookie: None,
            ack: AckState::default(),
            next_id: 0,
            kind: class,
            timeout_ms: 30_000,
            acct,
            conn: None,
        };
        let permit = ctx.setup.acquire().await;
        let mut tries = 0;
        while let Err(e) = s.setup(&ctx, &name).await {
            ctx.error(class, "setup", &e);
            tries += 1;
            if tries >= 20 || ctx.mode.borrow().leaving() {
                ctx.book.lock().unwrap().accounts[acct].ended = true;
                let _ = ctx.ready_tx.send(false);
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        drop(permit);
        if !told_ready {
            told_ready = true;
            let _ = ctx.ready_tx.send(true);
        }
        let counters = ctx.counters(class);
        loop {
            match s.drive(&ctx, &mut rng).await {
                Outcome::Leave => {
                    s.disconnect(&ctx).await;
                    return;
                }
                Outcome::Churn => match pick(class, &mut rng) {
                    Churn::Drop => {
                        counters.drops.fetch_add(1, Ordering::Relaxed);
                        s.conn = None;
                        let pause = 200 + (rng.unit() * 3_800.0) as u64;
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                    Churn::Switch => {
                        counters.switches.fetch_add(1, Ordering::Relaxed);
                        s.conn = None;
                        s.kind = match s.kind {
                            Kind::LongPolling => Kind::WebSocket,
                            _ => Kind::LongPolling,
                        };
                    }
                    Churn::Quit => {
                        counters.quits.fetch_add(1, Ordering::Relaxed);
                        s.disconnect(&ctx).await;
                        ctx.book.lock().unwrap().accounts[acct].ended = true;
                        break;
                    }
                },
                Outcome::Broken(e) => {
                    ctx.error(s.kind, "connection", &e);
                    s.conn = None;
                    if ctx.mode.borrow().leaving() {
                        s.disconnect(&ctx).await;
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Outcome::Gone => {
                    counters.rehandshakes.fetch_add(1, Ordering::Relaxed);
                    let mut book = ctx.book.lock().unwrap();
                    book.accounts[acct].ended = true;
                    book.accounts[acct].dropped_by_server = true;
                    break;
                }
            }
        }
    }
}
