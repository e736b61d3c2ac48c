//! Engines: where sessions, their subscriptions and their queues live.
//!
//! The Bayeux layer talks to sessions and the broker only through [`Engine`], so that a
//! distributed engine (Redis, in a later issue: sessions and channels shared by several
//! nodes, each node fanning out to the clients it holds) can replace the in-memory one
//! without touching the protocol or the transports. The interface is the narrow set of
//! operations Faye's engines also need: create/find/end a session, (un)subscribe,
//! publish, expire idle sessions.

mod memory;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::protocol::{ChannelName, ChannelPattern};
use crate::session::{EndReason, Session};

pub use memory::MemoryEngine;

/// Sessions, subscriptions and fan-out, as one node sees them.
pub trait Engine: Send + Sync + 'static {
    /// Creates a new handshaken session with a fresh, unguessable client id (HS-2).
    fn create_session(&self) -> Arc<Session>;

    /// The live session with this id.
    fn session(&self, client_id: &str) -> Option<Arc<Session>>;

    /// Ends a session and drops its subscriptions; its held connect wakes.
    fn end_session(&self, session: &Session, reason: EndReason);

    /// Subscribes a session to each pattern.
    fn subscribe(&self, session: &Arc<Session>, patterns: &[ChannelPattern]);

    /// Unsubscribes a session from each pattern.
    fn unsubscribe(&self, session: &Session, patterns: &[ChannelPattern]);

    /// Queues an already-serialized message for every subscriber of `channel`; returns how
    /// many sessions got it.
    fn publish(&self, channel: &ChannelName, message: Bytes) -> usize;

    /// Ends every session idle longer than `idle` (SES-2); returns how many.
    fn expire_idle(&self, idle: Duration) -> usize;

    /// Ends every session, for shutdown.
    fn end_all(&self, reason: EndReason);

    /// How many sessions are live.
    fn session_count(&self) -> usize;
}
