//! The Bayeux wire format: channel names, incoming messages, replies and advice.
//!
//! Pure data and parsing: nothing here knows about sessions, HTTP or tasks, so every rule
//! of the grammar is tested on its own.

pub mod channel;
pub mod message;
pub mod reply;

pub use channel::{ChannelKind, ChannelName, ChannelPattern, Wildcard};
pub use message::{ClientAdvice, Message, Subscription};
pub use reply::{event, Advice, Reconnect, Reply};

/// The meta channels a client may use (ERR-3 for the rest).
pub mod meta {
    /// `/meta/handshake`
    pub const HANDSHAKE: &str = "/meta/handshake";
    /// `/meta/connect`
    pub const CONNECT: &str = "/meta/connect";
    /// `/meta/subscribe`
    pub const SUBSCRIBE: &str = "/meta/subscribe";
    /// `/meta/unsubscribe`
    pub const UNSUBSCRIBE: &str = "/meta/unsubscribe";
    /// `/meta/disconnect`
    pub const DISCONNECT: &str = "/meta/disconnect";
}
