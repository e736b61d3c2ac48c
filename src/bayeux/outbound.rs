//! The one door out of a session (EXT-3): a held connect's reply, a WebSocket's pushes, an
//! EventSource's events and a server-side session's messages all take from the session's
//! queue through [`Bayeux::take`], where per-recipient work runs (the extensions' deliver
//! hooks; acknowledged batches are closed by the queue itself). Transports hold a
//! [`PushStream`] and never see the session behind it.

use std::sync::Arc;

use bytes::Bytes;

use super::{Bayeux, Connection, Inbound};
use crate::protocol::{events_json, FrozenEvent};
use crate::request::RequestInfo;
use crate::session::{
    Claim, EndReason, ServerSession, Session, StreamKind, StreamTicket, Taken, Wake,
};

impl Bayeux {
    /// What `claim` takes from `session` now, after the per-recipient hooks.
    pub(super) fn take(&self, session: &Arc<Session>, claim: Claim) -> Taken {
        let mut taken = session.take(claim);
        if !taken.events.is_empty() {
            let to = ServerSession(Arc::clone(session));
            taken.events = self.hooks.extensions.deliver(taken.events, &to);
        }
        taken
    }

    /// A server-side session's handle and its push stream.
    pub(crate) fn local_stream(
        self: &Arc<Self>,
        client_id: &str,
    ) -> Option<(ServerSession, PushStream)> {
        let session = self.hub.session(client_id)?;
        let stream = PushStream::attach(self, &session, StreamKind::Downstream);
        Some((ServerSession(session), stream))
    }

    /// What an EventSource for the session `client_id` streams (TR-4), or `None` when no
    /// such session lives, or it is not this browser's (BIND-1).
    pub fn event_stream(
        self: &Arc<Self>,
        client_id: &str,
        request: &RequestInfo,
    ) -> Option<EventStream> {
        let inbound = Inbound {
            request,
            connection: Connection::Http,
        };
        let session = self
            .hub
            .session(client_id)
            .filter(|session| self.admits(session, inbound))?;
        if session.is_acknowledged_delivery() {
            return Some(EventStream::Quiet);
        }
        Some(EventStream::Push(PushStream::attach(
            self,
            &session,
            StreamKind::Downstream,
        )))
    }
}

/// What an EventSource's `GET` carries.
#[derive(Debug)]
pub enum EventStream {
    /// The session's messages, pushed as they come.
    Push(PushStream),
    /// Nothing but keep-alives: the session acknowledges what it receives (ACK-1), which
    /// only connect replies can carry (a batch number to acknowledge), so its connects
    /// deliver, held as long-polls, and the stream only keeps the browser's EventSource
    /// open. A stream that pushed would send the unacknowledged messages again and again.
    Quiet,
}

/// A connection's claim on delivering a session's messages as they come: a WebSocket, an
/// EventSource, a server-side session. Only the newest claim on a session delivers; the
/// claim is given up when this is dropped, and the session's messages then wait for its
/// next connect (TR-7).
#[derive(Debug)]
pub struct PushStream {
    core: Arc<Bayeux>,
    session: Arc<Session>,
    ticket: StreamTicket,
}

impl PushStream {
    pub(super) fn attach(core: &Arc<Bayeux>, session: &Arc<Session>, kind: StreamKind) -> Self {
        Self {
            core: Arc::clone(core),
            session: Arc::clone(session),
            ticket: session.attach_stream(kind),
        }
    }

    /// The next messages, everything queued at once, in order; `None` once the stream must
    /// stop: a newer stream or a poll took over, or the session ended. Cancel-safe: nothing
    /// is taken until it returns. (Shutdown is the transport's to watch, once per
    /// connection rather than once per push.)
    pub async fn next(&mut self) -> Option<Vec<FrozenEvent>> {
        loop {
            if self.session.wait_stream(self.ticket).await != Wake::Messages {
                return None;
            }
            let taken = self.core.take(&self.session, Claim::Stream(self.ticket));
            if !taken.events.is_empty() {
                return Some(taken.events);
            }
        }
    }

    /// Ends the session behind this stream: its client stopped reading for too long
    /// (LIM-4). Its next connect, on any transport, is sent back to handshake.
    pub fn cut_off(self) {
        tracing::warn!(client_id = self.session.id(), "slow consumer cut off");
        self.core.end_session(&self.session, EndReason::TooSlow);
    }

    /// [`PushStream::next`] as one JSON array.
    pub async fn next_json(&mut self) -> Option<Bytes> {
        Some(events_json(&self.next().await?))
    }
}

impl Drop for PushStream {
    fn drop(&mut self) {
        self.session.detach_stream(self.ticket);
    }
}
