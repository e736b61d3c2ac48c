//! Listeners: the application hears of sessions coming and going, subscriptions and
//! publishes (LIS-1), to keep presence, count things, or log. Listeners only observe; to
//! change or refuse a message, use an [`crate::Extension`] or the [`crate::SecurityPolicy`].
//!
//! They are called synchronously where the event happens, so they should be quick; hand
//! slow work to a task.

use crate::protocol::{ChannelPattern, FrozenEvent};
use crate::request::RequestInfo;
use crate::session::{EndReason, ServerSession};

/// What happens on the server. Every method has a default that does nothing.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use herald::{EndReason, Listener, RequestInfo, ServerSession};
///
/// #[derive(Default)]
/// struct Online(AtomicUsize);
///
/// impl Listener for Online {
///     fn session_added(&self, _: &ServerSession, _: &RequestInfo) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn session_removed(&self, _: &ServerSession, _: EndReason) {
///         self.0.fetch_sub(1, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait Listener: Send + Sync + 'static {
    /// A handshake made a session (after the security policy allowed it).
    fn session_added(&self, session: &ServerSession, request: &RequestInfo) {
        let _ = (session, request);
    }

    /// A session ended: disconnected (by its client, or a server-side session dropped),
    /// expired or overflowed. (A shutdown ends none: held connects are told to retry, CN-8,
    /// and the process stops.) Then [`Listener::unsubscribed`] is called for each
    /// subscription it held.
    fn session_removed(&self, session: &ServerSession, reason: EndReason) {
        let _ = (session, reason);
    }

    /// A session subscribed to a pattern it did not hold.
    fn subscribed(&self, session: &ServerSession, channel: &ChannelPattern) {
        let _ = (session, channel);
    }

    /// A session gave up a subscription, by unsubscribing or by ending.
    fn unsubscribed(&self, session: &ServerSession, channel: &ChannelPattern) {
        let _ = (session, channel);
    }

    /// A broadcast was published on this node (by a client, a server-side session, or the
    /// server itself when `from` is `None`) and reached `reached` sessions of this node.
    fn published(&self, from: Option<&ServerSession>, event: &FrozenEvent, reached: usize) {
        let _ = (from, event, reached);
    }
}
