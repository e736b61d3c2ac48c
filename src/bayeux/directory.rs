//! What an application asks of this node as a whole rather than of one request: messages
//! for one user or one session, sessions removed, the subscriptions held (USR-1, USR-2).

use std::sync::Arc;

use serde_json::value::RawValue;

use super::Bayeux;
use crate::protocol::{BayeuxError, ChannelKind, ChannelName, Event};
use crate::session::{Delivery, EndReason, ServerSession, Session};

impl Bayeux {
    /// Delivers `data` on `channel` to every session of `user` on this node, whatever they
    /// subscribe to, and to nobody else (USR-1); returns how many sessions got it.
    pub fn deliver_to_user(
        &self,
        user: &str,
        channel: &str,
        data: &RawValue,
    ) -> Result<usize, BayeuxError> {
        let sessions = self.hub.sessions_of(user);
        self.deliver_to(&sessions, channel, data)
    }

    /// Delivers `data` on `channel` to one session alone; `false` if it is not live here.
    pub fn deliver_to_session(
        &self,
        session: &ServerSession,
        channel: &str,
        data: &RawValue,
    ) -> Result<bool, BayeuxError> {
        let sessions = [Arc::clone(&session.0)];
        Ok(self.deliver_to(&sessions, channel, data)? == 1)
    }

    /// Queues one event, frozen once, for each of `sessions` that is live; a session whose
    /// queue overflows ends (SES-4).
    fn deliver_to(
        &self,
        sessions: &[Arc<Session>],
        channel: &str,
        data: &RawValue,
    ) -> Result<usize, BayeuxError> {
        let name = ChannelName::parse(channel)
            .filter(|name| name.kind() != ChannelKind::Meta)
            .ok_or_else(|| BayeuxError::InvalidChannel(channel.to_owned()))?;
        let mut event = Event::new(name, data.to_owned());
        self.hooks.extensions.broadcast(&mut event, None)?;
        let event = event.freeze();
        let mut reached = 0;
        for session in sessions.iter().filter(|s| s.state().is_live()) {
            reached += 1;
            if session.deliver(event.clone()) == Delivery::Overflow {
                self.end_session(session, EndReason::Overflowed);
            }
        }
        Ok(reached)
    }

    /// Ends every session of `user` on this node, telling each client to stop rather than
    /// handshake again (`advice.reconnect: none`); returns how many ended.
    pub fn remove_user(&self, user: &str) -> usize {
        let sessions = self.hub.sessions_of(user);
        for session in &sessions {
            self.end_session(session, EndReason::Removed);
        }
        sessions.len()
    }

    /// Ends one session as [`Bayeux::remove_user`] does; `false` if it is not live here.
    pub fn remove_session(&self, client_id: &str) -> bool {
        match self.hub.session(client_id) {
            Some(session) => {
                self.end_session(&session, EndReason::Removed);
                true
            }
            None => false,
        }
    }

    /// Every channel or pattern with subscribers on this node, with how many sessions
    /// subscribe to it, sorted by name.
    pub fn subscription_counts(&self) -> Vec<(String, usize)> {
        let mut counts = self.hub.subscription_counts();
        counts.sort_unstable();
        counts
    }
}
