//! The Bayeux wire format: channel names, incoming messages, replies, events, advice and
//! the protocol's errors.
//!
//! Pure data and parsing: nothing here knows about sessions, HTTP or tasks, so every rule
//! of the grammar is tested on its own.

pub mod channel;
pub mod error;
pub mod event;
pub mod id;
pub mod message;
pub mod reply;
pub mod response;

pub use channel::{ChannelKind, ChannelName, ChannelPattern, Wildcard};
pub use error::{BayeuxError, SignInError};
pub use event::{Event, FrozenEvent};
pub use id::MessageId;
pub use message::{
    parse_batch, Body, Channel, ClientAdvice, Ext, Malformed, MalformedBatch, Message, Subscription,
};
pub use reply::{Advice, Reconnect, Reply};
pub use response::{events_json, Response};

/// The five meta channels (ERR-3 for any other `/meta/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Meta {
    /// `/meta/handshake`
    Handshake,
    /// `/meta/connect`
    Connect,
    /// `/meta/subscribe`
    Subscribe,
    /// `/meta/unsubscribe`
    Unsubscribe,
    /// `/meta/disconnect`
    Disconnect,
}

impl Meta {
    /// The channel's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Meta::Handshake => "/meta/handshake",
            Meta::Connect => "/meta/connect",
            Meta::Subscribe => "/meta/subscribe",
            Meta::Unsubscribe => "/meta/unsubscribe",
            Meta::Disconnect => "/meta/disconnect",
        }
    }

    /// The meta channel with this name.
    pub fn from_name(name: &str) -> Option<Meta> {
        [
            Meta::Handshake,
            Meta::Connect,
            Meta::Subscribe,
            Meta::Unsubscribe,
            Meta::Disconnect,
        ]
        .into_iter()
        .find(|meta| meta.as_str() == name)
    }
}
