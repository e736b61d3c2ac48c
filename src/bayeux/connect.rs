//! `/meta/connect` (CN-1 to CN-8): whether a connect is answered at once or held, holding
//! it, and its reply with the events it delivers.

use std::sync::Arc;
use std::time::Duration;

use super::browsers::{BrowserSlot, BROWSER_COOKIE};
use super::outbound::PushStream;
use super::{millis, Bayeux, Connection, Inbound};
use crate::config::ConnectionType;
use crate::protocol::{Advice, BayeuxError, Body, FrozenEvent, Message, Meta, Reconnect, Reply};
use crate::session::{
    Claim, ConnectTicket, EndReason, ServerSession, Session, SessionState, StreamKind,
};

/// A connect that passed its checks and may still have to wait. It owns what it needs, so a
/// WebSocket can finish it in a task of its own while it reads the next frames.
#[derive(Debug)]
pub struct PendingConnect {
    session: Arc<Session>,
    ticket: ConnectTicket,
    /// The request, for its `id` and for the reply hooks (what `ext` asked for); boxed,
    /// as it waits out the hold.
    message: Box<Message>,
    /// How long to hold it; `None` answers at once.
    hold: Option<Duration>,
    advice: Advice,
    /// The browser's poll slot while it is held (TR-8).
    slot: Option<BrowserSlot>,
}

impl Drop for PendingConnect {
    /// A connect dropped unanswered (its HTTP connection closed while it was held) still
    /// ends, so the session expires like any other whose client went away (SES-5) instead
    /// of counting as held, and queueing, forever.
    fn drop(&mut self) {
        self.session.end_connect(self.ticket);
    }
}

/// A connect refused before it began: the message back, with what the reply needs.
pub(super) type Refused = (Message, Option<ServerSession>, BayeuxError);

impl Bayeux {
    /// Checks a connect and starts it (CN-1, CN-3 to CN-5, TR-8); on a WebSocket whose
    /// session takes pushes, also attaches the socket as the session's push stream.
    pub(super) fn begin_connect(
        self: &Arc<Self>,
        message: Message,
        session: Option<ServerSession>,
        inbound: Inbound<'_>,
        alone: bool,
    ) -> Result<(PendingConnect, Option<PushStream>), Box<Refused>> {
        let checked = Self::live(&message, session.as_ref()).and_then(|session| {
            match message.body().map_err(Clone::clone)? {
                Body::Connect {
                    connection_type,
                    advice,
                } if self.offers_name(connection_type) => {
                    Ok((session, connection_type.clone(), *advice))
                }
                Body::Connect {
                    connection_type, ..
                } => Err(BayeuxError::UnsupportedConnectionType(vec![
                    connection_type.clone(),
                ])),
                _ => unreachable!("a connect's body is a connect"),
            }
        });
        let (session, connection_type, client_advice) = match checked {
            Ok(checked) => checked,
            Err(error) => return Err(Box::new((message, session, error))),
        };
        // EventSource connects only keep the session alive: the stream delivers, and the
        // client is told to come back after `timeout` (Faye's advice for it). Unless the
        // session acknowledges what it gets: then they deliver, as polls (see EventStream).
        let eventsource = connection_type == ConnectionType::EventSource.as_str()
            && !session.is_acknowledged_delivery();
        // A WebSocket pushes, unless the session takes its messages with connects only.
        let pushes =
            inbound.connection == Connection::WebSocket && !session.is_acknowledged_delivery();
        let delivers = !pushes && !eventsource;
        let Some(ticket) = session.0.begin_connect(delivers) else {
            let error = BayeuxError::UnknownClient(session.id().to_owned());
            return Err(Box::new((message, Some(session), error)));
        };
        let mut advice = self.advice(Reconnect::Retry);
        let at_once = ticket.first
            || !alone
            || eventsource
            || client_advice.timeout == Some(0)
            || session.0.has_messages_for_connect()
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
        let browser = inbound.request.cookie(BROWSER_COOKIE);
        if let (Some(_), Some(browser), true) = (
            hold,
            browser,
            inbound.connection == Connection::Http && delivers,
        ) {
            slot = self.browsers.take(browser);
            if slot.is_none() {
                // This browser already holds as many polls as it may (TR-8).
                hold = None;
                advice.multiple_clients = Some(true);
                advice.interval = millis(self.config.multi_session_interval);
            }
        }
        // Attached after the checks above, as the socket's stream did before: a connect on
        // a socket that finds messages waiting is answered at once, and the stream pushes them.
        let stream = pushes.then(|| PushStream::attach(self, &session.0, StreamKind::Duplex));
        let pending = PendingConnect {
            session: session.0,
            ticket,
            message: Box::new(message),
            hold,
            advice,
            slot,
        };
        Ok((pending, stream))
    }

    /// Waits out a held connect (CN-6), then returns the events it delivers and its reply
    /// (none when an extension dropped it).
    pub async fn complete(&self, connect: PendingConnect) -> (Vec<FrozenEvent>, Option<Reply>) {
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

    /// The events a connect delivers, taken through the outbound door, and its reply
    /// (none when an extension dropped it).
    pub(super) fn reply_to_connect(
        &self,
        mut connect: PendingConnect,
    ) -> (Vec<FrozenEvent>, Option<Reply>) {
        connect.slot = None;
        let taken = self.take(&connect.session, Claim::Connect(connect.ticket));
        let session = &connect.session;
        let id = connect.message.id().cloned();
        let channel = Meta::Connect;
        let mut reply = match session.state() {
            SessionState::Ended(EndReason::Disconnected | EndReason::Removed) => {
                Reply::ok(channel, id)
                    .client_id(session.client_id())
                    .advice(self.advice(Reconnect::None))
            }
            SessionState::Ended(_) => Reply::failed(
                Some(channel.into()),
                id,
                BayeuxError::UnknownClient(session.id().to_owned()),
            ),
            _ => Reply::ok(channel, id)
                .client_id(session.client_id())
                .advice(connect.advice)
                .batch(taken.batch),
        };
        self.pace(&mut reply);
        let handle = ServerSession(Arc::clone(session));
        let kept = self
            .hooks
            .extensions
            .reply(&mut reply, &connect.message, Some(&handle));
        // Dropping `connect` at the end ends it (see its `Drop`).
        (taken.events, kept.then_some(reply))
    }
}
