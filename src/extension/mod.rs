//! Extensions: hooks on every message in and out, CometD's model (EXT-1 to EXT-4).
//!
//! An [`Extension`] sees each message a client sends before the server acts on it
//! ([`Extension::incoming`]), each reply before it leaves ([`Extension::reply`]), each
//! broadcast once before it is serialized and fanned out ([`Extension::broadcast`]), and each
//! delivery of a broadcast to one session ([`Extension::deliver`]). A hook may change the
//! message, reject it with a Bayeux error, or drop it. Incoming hooks run in registration
//! order, outgoing ones in reverse, as in CometD.
//!
//! Hooks are synchronous: they run on the hot path, once per message (and `deliver` once
//! per recipient). Work that has to wait on another service belongs in the
//! [`crate::SecurityPolicy`], whose checks are asynchronous.
//!
//! The fast path is kept: a broadcast that no `deliver` hook replaces is serialized once
//! and shared by every queue.

mod ack;
mod timestamp;
mod timesync;

use std::sync::Arc;

use crate::protocol::{BayeuxError, Event, FrozenEvent, Message, Reply};
use crate::request::RequestInfo;
use crate::session::ServerSession;

pub use ack::AckExtension;
pub use timestamp::TimestampExtension;
pub use timesync::TimesyncExtension;

/// What a hook decides about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on (possibly changed).
    Pass,
    /// Refuse it with this error: the sender gets a failed reply saying so.
    Reject(BayeuxError),
    /// Drop it: an incoming message or a broadcast is answered `404::message_deleted`
    /// (CometD's veto), a reply is not sent at all.
    Drop,
}

/// What a per-recipient hook decides about one delivery.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Deliver the shared message as it is.
    Deliver,
    /// Deliver this instead, to this session only.
    Replace(Event),
    /// Do not deliver it to this session.
    Skip,
}

/// Where an incoming message comes from.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The session it names, if live; for a handshake, the session being made.
    pub session: Option<&'a ServerSession>,
    /// The request that carried it.
    pub request: &'a RequestInfo,
}

/// Hooks on the messages going in and out. Every method has a default that lets the
/// message pass, so an extension implements only what it needs.
///
/// ```
/// use herald::extension::{Extension, Incoming, Verdict};
/// use herald::protocol::{BayeuxError, Message};
///
/// /// Refuses publishes larger than 1 KB.
/// struct SizeLimit;
///
/// impl Extension for SizeLimit {
///     fn incoming(&self, message: &mut Message, _: &Incoming<'_>) -> Verdict {
///         match message.data() {
///             Some(data) if data.get().len() > 1024 => {
///                 Verdict::Reject(BayeuxError::application(413, ["data"], "Message too large"))
///             }
///             _ => Verdict::Pass,
///         }
///     }
/// }
/// ```
pub trait Extension: Send + Sync + 'static {
    /// Each message from a client or a server-side session, before the server acts on it
    /// (the handshake included: its session is the one being made).
    fn incoming(&self, message: &mut Message, from: &Incoming<'_>) -> Verdict {
        let _ = (message, from);
        Verdict::Pass
    }

    /// Each reply (meta channels, publishes, services), before it is sent. `request` is
    /// the message it answers, as the incoming hooks left it.
    fn reply(
        &self,
        reply: &mut Reply,
        request: &Message,
        session: Option<&ServerSession>,
    ) -> Verdict {
        let _ = (reply, request, session);
        Verdict::Pass
    }

    /// Each broadcast, once, before it is serialized and fanned out; `from` is the
    /// publishing session (none for a publish made by the server itself).
    fn broadcast(&self, event: &mut Event, from: Option<&ServerSession>) -> Verdict {
        let _ = (event, from);
        Verdict::Pass
    }

    /// Each delivery of a broadcast to one session, when it leaves that session's queue.
    /// In acknowledged delivery a message not acknowledged is delivered, and seen here,
    /// again.
    fn deliver(&self, event: &FrozenEvent, to: &ServerSession) -> Delivery {
        let _ = (event, to);
        Delivery::Deliver
    }
}

/// The registered extensions, in registration order.
#[derive(Clone, Default)]
pub(crate) struct Extensions(Vec<Arc<dyn Extension>>);

impl Extensions {
    pub(crate) fn push(&mut self, extension: Arc<dyn Extension>) {
        self.0.push(extension);
    }

    pub(crate) fn append(&mut self, mut others: Extensions) {
        self.0.append(&mut others.0);
    }

    /// Runs the incoming hooks in registration order; the first refusal wins.
    pub(crate) fn incoming(
        &self,
        message: &mut Message,
        from: &Incoming<'_>,
    ) -> Result<(), BayeuxError> {
        for extension in &self.0 {
            match extension.incoming(message, from) {
                Verdict::Pass => {}
                Verdict::Reject(error) => return Err(error),
                Verdict::Drop => return Err(BayeuxError::MessageDeleted),
            }
        }
        Ok(())
    }

    /// Runs the reply hooks in reverse order; `false` when the reply must not be sent.
    pub(crate) fn reply(
        &self,
        reply: &mut Reply,
        request: &Message,
        session: Option<&ServerSession>,
    ) -> bool {
        for extension in self.0.iter().rev() {
            match extension.reply(reply, request, session) {
                Verdict::Pass => {}
                Verdict::Reject(error) => reply.fail(error),
                Verdict::Drop => return false,
            }
        }
        true
    }

    /// Runs the broadcast hooks in reverse order; the first refusal wins.
    pub(crate) fn broadcast(
        &self,
        event: &mut Event,
        from: Option<&ServerSession>,
    ) -> Result<(), BayeuxError> {
        for extension in self.0.iter().rev() {
            match extension.broadcast(event, from) {
                Verdict::Pass => {}
                Verdict::Reject(error) => return Err(error),
                Verdict::Drop => return Err(BayeuxError::MessageDeleted),
            }
        }
        Ok(())
    }

    /// Runs the per-recipient hooks in reverse order over what one delivery takes.
    pub(crate) fn deliver(&self, events: Vec<FrozenEvent>, to: &ServerSession) -> Vec<FrozenEvent> {
        if self.0.is_empty() {
            return events;
        }
        events
            .into_iter()
            .filter_map(|mut event| {
                for extension in self.0.iter().rev() {
                    match extension.deliver(&event, to) {
                        Delivery::Deliver => {}
                        Delivery::Replace(replacement) => event = replacement.freeze(),
                        Delivery::Skip => return None,
                    }
                }
                Some(event)
            })
            .collect()
    }
}
