//! Server-side sessions: a session inside the server that handshakes, subscribes and
//! publishes like a remote client (LOC-1). Extensions, the security policy and listeners see
//! its messages as they see any client's (its session says [`ServerSession::is_local`]),
//! and it receives what it subscribed to through the same outbound door as a WebSocket.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::bayeux::{Bayeux, Connection, Inbound, PushStream};
use crate::config::ConnectionType;
use crate::protocol::{BayeuxError, ChannelName, ChannelPattern, FrozenEvent, Message, Reply};
use crate::request::RequestInfo;
use crate::session::{EndReason, ServerSession};

/// A session held by the server itself: a bot in a chat room, a bridge to another system.
/// It disconnects when dropped.
///
/// ```no_run
/// # async fn run(herald: herald::Herald) -> Result<(), herald::BayeuxError> {
/// let mut bot = herald.local_session().await?;
/// bot.subscribe("/chat/*").await?;
/// while let Some(event) = bot.recv().await {
///     if event.data_json().contains("ping") {
///         bot.publish(event.channel().as_str(), &serde_json::json!({ "text": "pong" })).await?;
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct LocalSession {
    core: Arc<Bayeux>,
    session: ServerSession,
    stream: PushStream,
    received: VecDeque<FrozenEvent>,
}

impl LocalSession {
    /// Handshakes a new session through the core, as a client would.
    pub(crate) async fn handshake(core: &Arc<Bayeux>) -> Result<Self, BayeuxError> {
        let types = ConnectionType::ALL
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        let reply = call(core, Message::handshake(types)).await?;
        let id = reply
            .client_id_given()
            .ok_or_else(|| BayeuxError::UnknownClient(String::new()))?;
        let (session, stream) = core
            .local_stream(id)
            .ok_or_else(|| BayeuxError::UnknownClient(id.to_owned()))?;
        Ok(Self {
            core: Arc::clone(core),
            session,
            stream,
            received: VecDeque::new(),
        })
    }

    /// The session, as listeners and policies see it.
    pub fn session(&self) -> &ServerSession {
        &self.session
    }

    /// Its client id.
    pub fn id(&self) -> &str {
        self.session.id()
    }

    /// Subscribes to a channel or pattern.
    pub async fn subscribe(&self, pattern: &str) -> Result<(), BayeuxError> {
        self.subscription(pattern, true).await
    }

    /// Unsubscribes from a channel or pattern.
    pub async fn unsubscribe(&self, pattern: &str) -> Result<(), BayeuxError> {
        self.subscription(pattern, false).await
    }

    async fn subscription(&self, pattern: &str, subscribe: bool) -> Result<(), BayeuxError> {
        let pattern = ChannelPattern::parse(pattern)
            .ok_or_else(|| BayeuxError::InvalidChannel(pattern.to_owned()))?;
        let message = Message::subscription_change(self.id(), pattern, subscribe);
        call(&self.core, message).await.map(drop)
    }

    /// Publishes `data` to a broadcast channel, or sends it to a `/service` channel and
    /// returns the service's answer.
    pub async fn publish(
        &self,
        channel: &str,
        data: &impl Serialize,
    ) -> Result<Option<Box<RawValue>>, BayeuxError> {
        let name = ChannelName::parse(channel)
            .ok_or_else(|| BayeuxError::InvalidChannel(channel.to_owned()))?;
        let data =
            serde_json::value::to_raw_value(data).map_err(|_| BayeuxError::InvalidField("data"))?;
        let reply = call(&self.core, Message::publish(Some(self.id()), name, data)).await?;
        Ok(reply.data_given().map(ToOwned::to_owned))
    }

    /// The next message delivered to this session, in order; `None` once the session has
    /// ended or the server is shutting down.
    pub async fn recv(&mut self) -> Option<FrozenEvent> {
        if self.received.is_empty() {
            let events = tokio::select! {
                events = self.stream.next() => events?,
                _ = self.core.shutting_down() => return None,
            };
            self.received.extend(events);
        }
        self.received.pop_front()
    }

    /// Disconnects the session now.
    pub async fn disconnect(self) {
        // Dropping it disconnects.
    }
}

impl Drop for LocalSession {
    fn drop(&mut self) {
        self.core
            .end_session(&self.session.0, EndReason::Disconnected);
    }
}

/// Processes one message of a server-side session and returns its reply, or its error.
async fn call(core: &Arc<Bayeux>, message: Message) -> Result<Reply, BayeuxError> {
    let request = RequestInfo::default();
    let inbound = Inbound {
        request: &request,
        connection: Connection::Local,
    };
    let processed = core.process(vec![Ok(message)], inbound).await;
    let reply = processed
        .response
        .into_replies()
        .next()
        .ok_or(BayeuxError::MessageDeleted)?;
    match reply.error() {
        Some(error) => Err(error.clone()),
        None => Ok(reply),
    }
}
