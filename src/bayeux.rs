//! The Bayeux protocol state machine: turns a batch of incoming messages into the
//! response, whatever transport carried them.
//!
//! Each meta channel has its handler here; sessions and subscriptions are reached only
//! through the [`Engine`]. A `/meta/connect` that has to wait is held here too, so every
//! transport holds connects the same way (CN-3 to CN-8).

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use dashmap::DashMap;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConnectionType};
use crate::engine::Engine;
use crate::error::BayeuxError;
use crate::protocol::{
    event, meta, Advice, ChannelKind, ChannelName, ChannelPattern, Message, Reconnect, Reply,
};
use crate::service::{ServiceRequest, Services};
use crate::session::{ConnectTicket, EndReason, Session, SessionState};

/// The protocol core shared by every transport.
pub struct Bayeux {
    engine: Arc<dyn Engine>,
    config: Config,
    services: Services,
    connection_types: Vec<&'static str>,
    /// Held long-polls per browser id (TR-8); an entry lives while it counts any.
    browsers: Arc<DashMap<Box<str>, usize>>,
    /// Cancelled once when the server shuts down; held connects then answer at once
    /// (CN-8), streams end and the sweeper stops.
    shutdown: CancellationToken,
}

/// How the messages being processed reached the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// They came on a WebSocket: that socket pushes the session's messages, so its
    /// connects are heartbeats that never carry events.
    pub websocket: bool,
    /// The `BAYEUX_BROWSER` cookie of an HTTP request, which counts held polls (TR-8).
    pub browser: Option<&'a str>,
}

/// The parts of a response, kept apart so they can be put in MSG-6 order.
#[derive(Debug, Default)]
pub struct Response {
    handshake: Option<Bytes>,
    events: Vec<Bytes>,
    replies: Vec<Bytes>,
    connect: Option<Bytes>,
}

impl Response {
    /// The response as one JSON array, built by concatenating already-serialized messages.
    pub fn to_json_array(&self) -> Bytes {
        json_array(
            self.handshake
                .iter()
                .chain(&self.events)
                .chain(&self.replies)
                .chain(&self.connect),
        )
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.handshake.is_none()
            && self.events.is_empty()
            && self.replies.is_empty()
            && self.connect.is_none()
    }

    /// Whether it answers a handshake (the transport may then set cookies).
    pub fn has_handshake(&self) -> bool {
        self.handshake.is_some()
    }
}

/// Joins serialized messages into one JSON array.
pub fn json_array<'a>(parts: impl Iterator<Item = &'a Bytes> + Clone) -> Bytes {
    let len = parts.clone().map(|p| p.len() + 1).sum::<usize>() + 2;
    let mut buf = BytesMut::with_capacity(len);
    buf.put_u8(b'[');
    for (i, part) in parts.enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(part);
    }
    buf.put_u8(b']');
    buf.freeze()
}

/// What [`Bayeux::process`] could answer at once, and the connect that may have to wait.
#[derive(Debug, Default)]
pub struct Processed {
    /// Every reply but the pending connect's.
    pub response: Response,
    /// The request's `/meta/connect`, to finish with [`Bayeux::complete`].
    pub connect: Option<PendingConnect>,
}

/// A connect that passed its checks and may still have to wait. It owns what it needs, so a
/// WebSocket can finish it in a task of its own while it reads the next frames.
#[derive(Debug)]
pub struct PendingConnect {
    session: Arc<Session>,
    ticket: ConnectTicket,
    id: Option<Box<RawValue>>,
    /// How long to hold it; `None` answers at once.
    hold: Option<Duration>,
    advice: Advice,
    /// The browser's poll slot while it is held (TR-8).
    slot: Option<BrowserSlot>,
}

impl PendingConnect {
    /// The session it connects.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }
}

impl Drop for PendingConnect {
    /// A connect dropped unanswered (its HTTP connection closed while it was held) still
    /// ends, so the session expires like any other whose client went away (SES-5) instead
    /// of counting as held, and queueing, forever.
    fn drop(&mut self) {
        self.session.end_connect(self.ticket);
    }
}

/// One held poll counted against a browser's limit; released when dropped.
#[derive(Debug)]
struct BrowserSlot {
    browsers: Arc<DashMap<Box<str>, usize>>,
    browser: Box<str>,
}

impl Drop for BrowserSlot {
    fn drop(&mut self) {
        self.browsers.remove_if_mut(&self.browser, |_, held| {
            *held -= 1;
            *held == 0
        });
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Bayeux {
    /// A protocol core over `engine`.
    pub fn new(engine: Arc<dyn Engine>, config: Config, services: Services) -> Self {
        let connection_types = config.connection_types.iter().map(|t| t.as_str()).collect();
        Self {
            engine,
            config,
            services,
            connection_types,
            browsers: Arc::default(),
            shutdown: CancellationToken::new(),
        }
    }

    /// The settings the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine, for server-side publishing and monitoring.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Whether `connection_type` is enabled (TR-1).
    pub fn offers(&self, connection_type: ConnectionType) -> bool {
        self.config.connection_types.contains(&connection_type)
    }

    /// Starts shutting down: held connects answer (CN-8), streams and the sweeper stop.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Resolves once shutdown has started.
    pub async fn shutting_down(&self) {
        self.shutdown.cancelled().await;
    }

    /// Ends expired sessions every `sweep_period` until shutdown (SES-2).
    pub async fn run_sweeper(self: Arc<Self>) {
        let idle = self.config.interval + self.config.max_interval;
        let mut ticks = tokio::time::interval(self.config.sweep_period);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = self.shutdown.cancelled() => return,
            }
            let expired = self.engine.expire_idle(idle);
            if expired > 0 {
                tracing::debug!(expired, "swept expired sessions");
            }
        }
    }

    fn advice(&self, reconnect: Reconnect) -> Advice {
        Advice {
            reconnect,
            interval: millis(self.config.interval),
            timeout: Some(millis(self.config.timeout)),
            max_interval: None,
            multiple_clients: None,
        }
    }

    fn offers_name(&self, connection_type: &str) -> bool {
        self.connection_types.contains(&connection_type)
    }

    /// Processes one request's messages and returns the whole response, having waited out
    /// its connect if it is held (MSG-1, MSG-6). For request/response transports.
    pub async fn handle(&self, batch: &[Message<'_>], context: Context<'_>) -> Response {
        self.finish(self.process(batch, context)).await
    }

    /// Completes what [`Bayeux::process`] left: waits out the connect, if any, and puts its
    /// events and reply in the response. Owns everything it needs, so a transport can drop
    /// the request (and the buffers it borrows) before a long hold.
    pub async fn finish(&self, processed: Processed) -> Response {
        let Processed {
            mut response,
            connect,
        } = processed;
        if let Some(connect) = connect {
            let (events, reply) = self.complete(connect).await;
            response.events = events;
            response.connect = Some(reply);
        }
        response
    }

    /// Processes one request's messages: everything is answered except a `/meta/connect`,
    /// which is returned for [`Bayeux::complete`].
    pub fn process(&self, batch: &[Message<'_>], context: Context<'_>) -> Processed {
        let mut processed = Processed::default();
        let response = &mut processed.response;
        let is_handshake =
            |m: &Message<'_>| m.channel().is_ok_and(|channel| channel == meta::HANDSHAKE);
        if batch.len() > 1 && batch.iter().any(is_handshake) {
            for message in batch {
                let channel = message.channel().ok();
                let reply = Reply::failed(
                    channel.as_deref(),
                    message.id(),
                    &BayeuxError::HandshakeNotAlone,
                );
                response.replies.push(reply.to_bytes());
            }
            return processed;
        }
        let alone = batch.len() == 1;
        for message in batch {
            let channel = match message.check_id().and_then(|()| message.channel()) {
                Ok(channel) => channel,
                Err(error) => {
                    let channel = message.channel().ok();
                    let reply = Reply::failed(channel.as_deref(), message.id(), &error);
                    response.replies.push(reply.to_bytes());
                    continue;
                }
            };
            match channel.as_str() {
                meta::HANDSHAKE => response.handshake = Some(self.handshake(message)),
                meta::CONNECT => match self.begin_connect(message, alone, context) {
                    Ok(pending) => {
                        // Two connects in one request: the earlier one is answered empty.
                        if let Some(earlier) = processed.connect.replace(pending) {
                            response.replies.push(self.reply_to_connect(earlier).1);
                        }
                    }
                    Err(error) => {
                        let reply = Reply::failed(Some(meta::CONNECT), message.id(), &error);
                        response.replies.push(reply.to_bytes());
                    }
                },
                meta::SUBSCRIBE => response.replies.push(self.subscription(message, true)),
                meta::UNSUBSCRIBE => response.replies.push(self.subscription(message, false)),
                meta::DISCONNECT => response.replies.push(self.disconnect(message)),
                other if other == "/meta" || other.starts_with("/meta/") => {
                    let error = BayeuxError::UnknownMetaChannel(channel.clone());
                    let reply = Reply::failed(Some(&channel), message.id(), &error);
                    response.replies.push(reply.to_bytes());
                }
                _ => response.replies.push(self.publish(message, &channel)),
            }
        }
        processed
    }

    /// The live session a message names (ERR-1, ERR-2); any message extends its life.
    fn session_of(&self, message: &Message<'_>) -> Result<Arc<Session>, BayeuxError> {
        let client_id = message.client_id()?;
        let session = self
            .engine
            .session(&client_id)
            .ok_or(BayeuxError::UnknownClient(client_id))?;
        session.touch();
        Ok(session)
    }

    fn handshake(&self, message: &Message<'_>) -> Bytes {
        let id = message.id();
        let negotiated = message.version().and_then(|_| {
            let types = message.supported_connection_types()?;
            if types.iter().any(|t| self.offers_name(t)) {
                Ok(())
            } else {
                Err(BayeuxError::UnsupportedConnectionType(types))
            }
        });
        match negotiated {
            Ok(()) => {
                let session = self.engine.create_session();
                tracing::debug!(client_id = session.id(), "handshake");
                let mut advice = self.advice(Reconnect::Retry);
                advice.max_interval = Some(millis(self.config.max_interval));
                Reply::ok(meta::HANDSHAKE, id)
                    .client_id(session.id())
                    .handshake(&self.connection_types)
                    .advice(advice)
                    .to_bytes()
            }
            Err(error) => Reply::failed(Some(meta::HANDSHAKE), id, &error)
                .advice(Advice::HANDSHAKE)
                .to_bytes(),
        }
    }

    fn begin_connect(
        &self,
        message: &Message<'_>,
        alone: bool,
        context: Context<'_>,
    ) -> Result<PendingConnect, BayeuxError> {
        let session = self.session_of(message)?;
        let connection_type = message.connection_type()?;
        if !self.offers_name(&connection_type) {
            return Err(BayeuxError::UnsupportedConnectionType(vec![
                connection_type,
            ]));
        }
        let client_advice = message.advice()?;
        // EventSource connects only keep the session alive: the stream delivers, and the
        // client is told to come back after `timeout` (Faye's advice for it).
        let eventsource = connection_type == ConnectionType::EventSource.as_str();
        let delivers = !context.websocket && !eventsource;
        let ticket = session
            .begin_connect(delivers)
            .ok_or_else(|| BayeuxError::UnknownClient(session.id().to_owned()))?;
        let mut advice = self.advice(Reconnect::Retry);
        let at_once = ticket.first
            || !alone
            || eventsource
            || client_advice.timeout == Some(0)
            || session.has_messages_for_connect()
            || self.shutdown.is_cancelled();
        if eventsource {
            advice.interval = millis(self.config.timeout);
            advice.timeout = Some(0);
        }
        let mut hold = (!at_once).then(|| {
            let asked = client_advice.timeout.map(Duration::from_millis);
            asked.map_or(self.config.timeout, |t| t.min(self.config.timeout))
        });
        let mut slot = None;
        if let (Some(_), Some(browser), true) = (hold, context.browser, delivers) {
            slot = self.take_browser_slot(browser);
            if slot.is_none() {
                // This browser already holds as many polls as it may (TR-8).
                hold = None;
                advice.multiple_clients = Some(true);
                advice.interval = millis(self.config.multi_session_interval);
            }
        }
        Ok(PendingConnect {
            session,
            ticket,
            id: message.id().map(ToOwned::to_owned),
            hold,
            advice,
            slot,
        })
    }

    fn take_browser_slot(&self, browser: &str) -> Option<BrowserSlot> {
        let mut held = self.browsers.entry(browser.into()).or_insert(0);
        if *held >= self.config.max_polls_per_browser {
            return None;
        }
        *held += 1;
        Some(BrowserSlot {
            browsers: Arc::clone(&self.browsers),
            browser: browser.into(),
        })
    }

    /// Waits out a held connect (CN-6), then returns the events it delivers and its reply.
    pub async fn complete(&self, connect: PendingConnect) -> (Vec<Bytes>, Bytes) {
        if let Some(hold) = connect.hold {
            // Whatever ends the wait, the answer is built from the session's state below;
            // on shutdown that state is unchanged, so the client is told to retry (CN-8).
            tokio::select! {
                _ = connect.session.wait_connect(connect.ticket) => {}
                _ = tokio::time::sleep(hold) => {}
                _ = self.shutdown.cancelled() => {}
            }
        }
        self.reply_to_connect(connect)
    }

    fn reply_to_connect(&self, mut connect: PendingConnect) -> (Vec<Bytes>, Bytes) {
        connect.slot = None;
        let session = &connect.session;
        let events = session.drain_for_connect(connect.ticket);
        // Dropping `connect` at the end ends it (see its `Drop`).
        let id = connect.id.as_deref();
        let reply = match session.state() {
            SessionState::Ended(EndReason::Disconnected) => Reply::ok(meta::CONNECT, id)
                .client_id(session.id())
                .advice(self.advice(Reconnect::None)),
            SessionState::Ended(_) => {
                let error = BayeuxError::UnknownClient(session.id().to_owned());
                Reply::failed(Some(meta::CONNECT), id, &error)
            }
            _ => Reply::ok(meta::CONNECT, id)
                .client_id(session.id())
                .advice(connect.advice),
        };
        (events, reply.to_bytes())
    }

    /// `/meta/subscribe` and `/meta/unsubscribe` (SUB-1 to SUB-5, UNSUB-1).
    fn subscription(&self, message: &Message<'_>, subscribe: bool) -> Bytes {
        let channel = if subscribe {
            meta::SUBSCRIBE
        } else {
            meta::UNSUBSCRIBE
        };
        let id = message.id();
        let result = (|| {
            let session = self.session_of(message)?;
            let subscription = message.subscription()?;
            let mut patterns = Vec::with_capacity(subscription.channels.len());
            for name in &subscription.channels {
                let pattern = ChannelPattern::parse(name)
                    .ok_or_else(|| BayeuxError::InvalidChannel(name.clone()))?;
                match pattern.kind() {
                    ChannelKind::Meta => return Err(BayeuxError::ForbiddenChannel(name.clone())),
                    // Service messages never reach subscribers (SUB-4): nothing to record.
                    ChannelKind::Service => {}
                    ChannelKind::Broadcast => patterns.push(pattern),
                }
            }
            if subscribe {
                self.engine.subscribe(&session, &patterns);
            } else {
                self.engine.unsubscribe(&session, &patterns);
            }
            Ok((session, subscription.raw))
        })();
        match result {
            Ok((session, raw)) => Reply::ok(channel, id)
                .client_id(session.id())
                .subscription(raw)
                .to_bytes(),
            Err(error) => {
                let reply = Reply::failed(Some(channel), id, &error);
                match message.subscription() {
                    Ok(subscription) => reply.subscription(subscription.raw).to_bytes(),
                    Err(_) => reply.to_bytes(),
                }
            }
        }
    }

    /// `/meta/disconnect` (DISC-1, DISC-2).
    fn disconnect(&self, message: &Message<'_>) -> Bytes {
        match self.session_of(message) {
            Ok(session) => {
                self.engine.end_session(&session, EndReason::Disconnected);
                tracing::debug!(client_id = session.id(), "disconnect");
                Reply::ok(meta::DISCONNECT, message.id())
                    .client_id(session.id())
                    .to_bytes()
            }
            Err(error) => Reply::failed(Some(meta::DISCONNECT), message.id(), &error).to_bytes(),
        }
    }

    /// A publish to a broadcast or service channel (PUB-1 to PUB-3, SVC-1, SVC-2).
    fn publish(&self, message: &Message<'_>, channel: &str) -> Bytes {
        let id = message.id();
        let result = (|| {
            let sender = if self.config.anonymous_publish && !message.has_client_id() {
                None
            } else {
                Some(self.session_of(message)?)
            };
            let name = ChannelName::parse(channel)
                .ok_or_else(|| BayeuxError::InvalidChannel(channel.to_owned()))?;
            let data = message.data()?;
            if name.kind() == ChannelKind::Service {
                let request = ServiceRequest {
                    channel: &name,
                    client_id: sender.as_ref().map_or("", |s| s.id()),
                    data,
                };
                return Ok(self.services.call(&request));
            }
            self.engine.publish(&name, event(&name, data));
            Ok(None)
        })();
        match result {
            Ok(answer) => Reply::ok(channel, id).data(answer.as_deref()).to_bytes(),
            Err(error) => Reply::failed(Some(channel), id, &error).to_bytes(),
        }
    }

    /// Publishes `data` to `channel` from the server itself, as if a client had.
    pub fn publish_from_server(
        &self,
        channel: &str,
        data: &RawValue,
    ) -> Result<usize, BayeuxError> {
        let name = ChannelName::parse(channel)
            .filter(|name| name.kind() == ChannelKind::Broadcast)
            .ok_or_else(|| BayeuxError::InvalidChannel(channel.to_owned()))?;
        Ok(self.engine.publish(&name, event(&name, data)))
    }
}
