//! The Bayeux protocol core: turns a batch of typed messages into the response, whatever
//! transport carried them, and is the one door messages leave a session by.
//!
//! In: each message passes the extensions' incoming hooks, then its handler (the meta
//! channels in `meta` and `connect`, publishes and services in `publish`), which asks the
//! security policy and returns a typed reply; the reply passes the extensions' reply hooks
//! and is serialized once with the rest of the response. Out: a held connect's reply, a
//! WebSocket's pushes, an EventSource's events and a server-side session's messages are
//! all taken through the outbound door (`outbound`), where per-recipient work runs.
//! Sessions live in the node's [`Hub`]; what other nodes need goes through the
//! [`Cluster`].

mod admission;
mod binding;
mod browsers;
mod connect;
mod directory;
mod lifecycle;
mod meta;
mod outbound;
mod publish;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::config::{Config, ConnectionType};
use crate::extension::{Extensions, Incoming};
use crate::filter::PublishFilters;
use crate::hub::Hub;
use crate::listener::Listener;
use crate::protocol::{
    Advice, BayeuxError, Channel, Malformed, Message, Meta, Reconnect, Reply, Response,
};
use crate::request::RequestInfo;
use crate::security::{Authorizers, SecurityPolicy};
use crate::service::Services;
use crate::session::{Census, QueueLimit, ServerSession};
use crate::sign_in::SignIn;
use crate::traffic::{Limit, Traffic};

use admission::Admission;
use browsers::Browsers;
pub use browsers::BROWSER_COOKIE;
pub use connect::PendingConnect;
pub use outbound::{EventStream, PushStream};

/// How the messages being processed reached the server.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The request that carried them.
    pub request: &'a RequestInfo,
    /// The kind of connection.
    pub connection: Connection,
}

/// The kinds of connection a message can come on, as far as the protocol cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// One HTTP request, one response (long-polling, JSONP, and the POSTs of an
    /// EventSource client): a connect may be held until there is something to answer.
    Http,
    /// A WebSocket: it pushes the session's messages as they come, and its connects are
    /// heartbeats, unless the session takes its messages with connects only (`ack`).
    WebSocket,
    /// A server-side session, in the same process.
    Local,
}

/// What [`Bayeux::process`] answered at once, and what is left for the transport.
#[derive(Debug, Default)]
pub struct Processed {
    /// Every reply but the pending connect's.
    pub response: Response,
    /// The request's `/meta/connect`, to finish with [`Bayeux::complete`].
    pub connect: Option<PendingConnect>,
    /// The session's messages, pushed on this connection from now on (WebSocket).
    pub stream: Option<PushStream>,
    /// A disconnect in the batch ended a session.
    pub ended: bool,
    /// A browser id for the `BAYEUX_BROWSER` cookie the response must set: a handshake
    /// came over HTTP without one (TR-8, BIND-1).
    pub new_browser: Option<Box<str>>,
}

impl Processed {
    /// The response and the connect, for a request/response transport, which has no use
    /// for a push stream: the rest is dropped here, not kept while the connect is held.
    pub fn into_response(self) -> (Response, Option<PendingConnect>, Option<Box<str>>) {
        (self.response, self.connect, self.new_browser)
    }
}

/// Everything an application plugs into the core.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) services: Services,
    pub(crate) extensions: Extensions,
    pub(crate) sign_in: Option<Arc<dyn SignIn>>,
    pub(crate) filters: PublishFilters,
    pub(crate) policy: Option<Arc<dyn SecurityPolicy>>,
    pub(crate) authorizers: Authorizers,
    pub(crate) listeners: Vec<Arc<dyn Listener>>,
}

/// The protocol core shared by every transport.
pub struct Bayeux {
    hub: Hub,
    cluster: Option<Arc<dyn Cluster>>,
    config: Config,
    hooks: Hooks,
    connection_types: Vec<&'static str>,
    browsers: Browsers,
    admission: Admission,
    traffic: Arc<Traffic>,
    /// Cancelled once when the server shuts down; held connects then answer at once
    /// (CN-8), streams end and the sweeper stops.
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Bayeux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bayeux")
            .field("sessions", &self.hub.session_count())
            .field("clustered", &self.cluster.is_some())
            .finish_non_exhaustive()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A failed reply to `message`, echoing its `subscription` when it had a readable one
/// (SUB-3: the CometD client drops its listeners for the channels named there).
fn failed(message: &Message, error: BayeuxError) -> Reply {
    let reply = Reply::failed(
        Some(message.channel().clone()),
        message.id().cloned(),
        error,
    );
    match message.subscription() {
        Some(subscription) => reply.subscription(subscription.raw()),
        None => reply,
    }
}

impl Bayeux {
    /// A core over a fresh hub, with the application's hooks and an optional cluster.
    pub(crate) fn new(config: Config, hooks: Hooks, cluster: Option<Arc<dyn Cluster>>) -> Self {
        let connection_types = config.connection_types.iter().map(|t| t.as_str()).collect();
        Self {
            hub: Hub::new(QueueLimit {
                messages: config.max_queue,
                bytes: config.max_queue_bytes,
            }),
            browsers: Browsers::new(config.max_polls_per_browser),
            traffic: Arc::default(),
            admission: Admission::new(
                config.max_handshake_rate,
                config.handshake_surge,
                config.surge_spread,
            ),
            cluster,
            config,
            hooks,
            connection_types,
            shutdown: CancellationToken::new(),
        }
    }

    /// The settings the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many sessions this node holds.
    pub fn session_count(&self) -> usize {
        self.hub.session_count()
    }

    /// This node's sessions, counted by how they are reached and what they have waiting.
    pub fn census(&self) -> Census {
        self.hub.census()
    }

    /// What crossed this node's doors, and the limits hit.
    pub fn traffic(&self) -> &Arc<Traffic> {
        &self.traffic
    }

    /// Whether `connection_type` is enabled (TR-1).
    pub fn offers(&self, connection_type: ConnectionType) -> bool {
        self.config.connection_types.contains(&connection_type)
    }

    /// Counts a refusal that is a limit (spec/limits.md) for the metrics.
    fn count_limit(&self, reply: &Reply) {
        if let Some(limit) = reply.error().and_then(Limit::of_error) {
            self.traffic.hit(limit);
        }
    }

    fn offers_name(&self, connection_type: &str) -> bool {
        self.connection_types.contains(&connection_type)
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

    /// Processes one request's messages: everything is answered except a `/meta/connect`,
    /// which is returned for [`Bayeux::complete`].
    ///
    /// The work is boxed: its future is large (every handler's state, policy checks
    /// included), and a transport's own future, which lives as long as a held connect or
    /// an idle socket, then holds a pointer to it while it runs instead of room for it
    /// forever, and is moved through the HTTP stack's layers at its small size.
    pub fn process<'a>(
        self: &'a Arc<Self>,
        batch: Vec<Result<Message, Malformed>>,
        inbound: Inbound<'a>,
    ) -> BoxFuture<'a, Processed> {
        Box::pin(self.process_batch(batch, inbound))
    }

    async fn process_batch(
        self: &Arc<Self>,
        batch: Vec<Result<Message, Malformed>>,
        inbound: Inbound<'_>,
    ) -> Processed {
        let mut processed = Processed::default();
        let is_handshake = |m: &Result<Message, Malformed>| matches!(m, Ok(m) if m.channel().meta() == Some(Meta::Handshake));
        if batch.len() > 1 && batch.iter().any(is_handshake) {
            for message in batch {
                let reply = match message {
                    Ok(message) => failed(&message, BayeuxError::HandshakeNotAlone),
                    Err(m) => Reply::failed(
                        m.channel.map(|c| Channel::parse(&c)),
                        m.id,
                        BayeuxError::HandshakeNotAlone,
                    ),
                };
                processed.response.push(reply);
            }
            return processed;
        }
        let alone = batch.len() == 1;
        for message in batch {
            match message {
                Ok(message) => self.dispatch(message, inbound, alone, &mut processed).await,
                Err(m) => {
                    let channel = m.channel.map(|c| Channel::parse(&c));
                    processed
                        .response
                        .push(Reply::failed(channel, m.id, m.error));
                }
            }
        }
        processed
    }

    async fn dispatch(
        self: &Arc<Self>,
        mut message: Message,
        inbound: Inbound<'_>,
        alone: bool,
        processed: &mut Processed,
    ) {
        if message.channel().meta() == Some(Meta::Handshake) {
            let (reply, new_browser) = self.handshake(&mut message, inbound).await;
            processed.response.set_handshake(reply);
            processed.new_browser = new_browser;
            return;
        }
        let session = message
            .client_id()
            .and_then(|id| self.hub.session(id))
            .filter(|session| self.admits(session, inbound))
            .map(ServerSession);
        let from = Incoming {
            session: session.as_ref(),
            request: inbound.request,
        };
        let result = match self.hooks.extensions.incoming(&mut message, &from) {
            Err(error) => Err(error),
            Ok(()) => match message.channel() {
                Channel::Meta(Meta::Connect) => {
                    match self.begin_connect(message, session, inbound, alone) {
                        Ok((pending, stream)) => {
                            // Two connects in one request: the earlier one is answered empty.
                            if let Some(earlier) = processed.connect.replace(pending) {
                                if let (_, Some(reply)) = self.reply_to_connect(earlier) {
                                    processed.response.push(reply);
                                }
                            }
                            if stream.is_some() {
                                processed.stream = stream;
                            }
                        }
                        Err(refused) => {
                            let (message, session, error) = *refused;
                            self.answer(
                                processed,
                                failed(&message, error),
                                &message,
                                session.as_ref(),
                            );
                        }
                    }
                    return;
                }
                Channel::Meta(Meta::Subscribe | Meta::Unsubscribe) => {
                    self.subscription(&message, session.as_ref(), inbound).await
                }
                Channel::Meta(Meta::Disconnect) => {
                    let reply = self.disconnect(&message, session.as_ref());
                    processed.ended |= reply.is_ok();
                    reply
                }
                Channel::Meta(Meta::Handshake) => unreachable!("handshakes are handled above"),
                Channel::UnknownMeta(name) => {
                    Err(BayeuxError::UnknownMetaChannel(name.to_string()))
                }
                Channel::Service(_) | Channel::Broadcast(_) | Channel::Invalid(_) => {
                    self.publish(&message, session.as_ref(), inbound).await
                }
            },
        };
        let reply = result.unwrap_or_else(|error| failed(&message, error));
        self.answer(processed, reply, &message, session.as_ref());
    }

    /// Puts a reply in the response once the extensions' reply hooks let it through.
    fn answer(
        &self,
        processed: &mut Processed,
        mut reply: Reply,
        request: &Message,
        session: Option<&ServerSession>,
    ) {
        self.pace(&mut reply);
        self.count_limit(&reply);
        if self.hooks.extensions.reply(&mut reply, request, session) {
            processed.response.push(reply);
        }
    }

    /// The live session a message names (ERR-1, ERR-2), looked up before the incoming
    /// hooks; any message extends its life.
    fn live(
        message: &Message,
        session: Option<&ServerSession>,
    ) -> Result<ServerSession, BayeuxError> {
        let client_id = message.require_client_id()?;
        let session = session
            .filter(|s| s.is_live())
            .ok_or_else(|| BayeuxError::UnknownClient(client_id.to_owned()))?;
        session.0.touch();
        Ok(session.clone())
    }
}
