//! Incoming Bayeux messages, parsed once into a typed [`Message`].
//!
//! The wire form borrows every field from the request as raw JSON; [`parse_batch`] then
//! types each field the message's channel needs, once. A field of the wrong type fails
//! that one message with a precise `Invalid field` error (MSG-4), never the whole request,
//! and `data` is never parsed at all, only carried. Field errors are kept in the message
//! rather than returned at once, so the core reports them in the protocol's order: an
//! unknown client (ERR-2) before a missing `connectionType`, as CN-1 lists them.

mod wire;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::channel::{ChannelKind, ChannelName, ChannelPattern};
use super::error::BayeuxError;
use super::id::MessageId;
use super::Meta;

pub use wire::{parse_batch, MalformedBatch};

/// A message's `ext` object: extension fields by name (e.g. `ack`, `timesync`).
pub type Ext = Map<String, Value>;

/// What a message's channel is, decided once from its name (CH-4 to CH-6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// One of the five meta channels.
    Meta(Meta),
    /// Another `/meta/…` name: ERR-3.
    UnknownMeta(Box<str>),
    /// A `/service/**` channel: request/response with the server.
    Service(ChannelName),
    /// A broadcast channel: fan-out to subscribers.
    Broadcast(ChannelName),
    /// Not a channel name one can publish to (an invalid name, or a pattern): PUB-3.
    Invalid(Box<str>),
}

impl Channel {
    /// Classifies a channel name as sent.
    pub fn parse(text: &str) -> Channel {
        if text == "/meta" || text.starts_with("/meta/") {
            return Meta::from_name(text)
                .map_or_else(|| Channel::UnknownMeta(text.into()), Channel::Meta);
        }
        match ChannelName::parse(text) {
            Some(name) if name.kind() == ChannelKind::Service => Channel::Service(name),
            Some(name) => Channel::Broadcast(name),
            None => Channel::Invalid(text.into()),
        }
    }

    /// The name as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Channel::Meta(meta) => meta.as_str(),
            Channel::UnknownMeta(text) | Channel::Invalid(text) => text,
            Channel::Service(name) | Channel::Broadcast(name) => name.as_str(),
        }
    }

    /// The meta channel, if this is one of the five.
    pub fn meta(&self) -> Option<Meta> {
        match self {
            Channel::Meta(meta) => Some(*meta),
            _ => None,
        }
    }
}

impl From<Meta> for Channel {
    fn from(meta: Meta) -> Self {
        Channel::Meta(meta)
    }
}

/// The advice a client may send with `/meta/connect` (CN-4, CN-6).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct ClientAdvice {
    /// How long the client wants the connect held, in ms; `0` means "answer now".
    pub timeout: Option<u64>,
}

/// A `subscription` field: one channel or several, with the text kept for the echo (SUB-1).
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The patterns in order, or the first name that breaks SUB-3.
    patterns: Result<Vec<ChannelPattern>, BayeuxError>,
    /// The field exactly as sent, echoed in the reply.
    raw: Box<RawValue>,
}

impl Subscription {
    /// The channels asked for, in order.
    pub fn patterns(&self) -> Result<&[ChannelPattern], &BayeuxError> {
        self.patterns.as_deref()
    }

    /// The field as sent.
    pub fn raw(&self) -> &RawValue {
        &self.raw
    }
}

/// What a message asks for, typed by its channel.
#[derive(Debug, Clone)]
pub enum Body {
    /// `/meta/handshake` (HS-1).
    Handshake {
        /// The client's connection types, in its order of preference.
        supported_connection_types: Vec<String>,
    },
    /// `/meta/connect` (CN-1).
    Connect {
        /// The transport the client connects with.
        connection_type: String,
        /// The client's advice.
        advice: ClientAdvice,
    },
    /// `/meta/subscribe`.
    Subscribe(Subscription),
    /// `/meta/unsubscribe`.
    Unsubscribe(Subscription),
    /// `/meta/disconnect`.
    Disconnect,
    /// A publish to a broadcast or service channel: its `data`, never parsed.
    Publish {
        /// The payload, as sent.
        data: Box<RawValue>,
    },
    /// A message on an unknown meta channel: nothing to read (ERR-3).
    UnknownMeta,
}

/// The `clientId` field: absent, a string, or something else (MSG-4).
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClientIdField {
    Absent,
    Valid(Box<str>),
    Invalid,
}

/// One incoming message, typed. Extensions may read and change it before the server acts
/// on it (its `ext`, and a publish's `data`).
#[derive(Debug, Clone)]
pub struct Message {
    channel: Channel,
    id: Option<MessageId>,
    client_id: ClientIdField,
    ext: Option<Ext>,
    body: Result<Body, BayeuxError>,
}

/// A message too broken to act on: no channel (MSG-2) or an `id` of the wrong type
/// (MSG-4). It still gets a reply, with what could be read.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// The channel, when it could be read.
    pub channel: Option<Box<str>>,
    /// The id, when it could be read.
    pub id: Option<MessageId>,
    /// Why it is refused.
    pub error: BayeuxError,
}

impl Message {
    fn new(channel: Channel, client_id: Option<&str>, body: Body) -> Self {
        Message {
            channel,
            id: None,
            client_id: client_id
                .map_or(ClientIdField::Absent, |id| ClientIdField::Valid(id.into())),
            ext: None,
            body: Ok(body),
        }
    }

    /// A handshake, for a session made on the server (see [`crate::LocalSession`]).
    pub fn handshake(supported_connection_types: Vec<String>) -> Self {
        let body = Body::Handshake {
            supported_connection_types,
        };
        Self::new(Channel::Meta(Meta::Handshake), None, body)
    }

    /// A subscribe or unsubscribe of one pattern from `client_id`.
    pub fn subscription_change(client_id: &str, pattern: ChannelPattern, subscribe: bool) -> Self {
        let raw = serde_json::value::to_raw_value(pattern.as_str()).expect("a string serializes");
        let subscription = Subscription {
            patterns: Ok(vec![pattern]),
            raw,
        };
        let (meta, body) = if subscribe {
            (Meta::Subscribe, Body::Subscribe(subscription))
        } else {
            (Meta::Unsubscribe, Body::Unsubscribe(subscription))
        };
        Self::new(Channel::Meta(meta), Some(client_id), body)
    }

    /// A publish of `data` to `channel` from `client_id` (or from no session).
    pub fn publish(client_id: Option<&str>, channel: ChannelName, data: Box<RawValue>) -> Self {
        let channel = match channel.kind() {
            ChannelKind::Service => Channel::Service(channel),
            ChannelKind::Broadcast => Channel::Broadcast(channel),
            ChannelKind::Meta => Channel::Invalid(channel.as_str().into()),
        };
        Self::new(channel, client_id, Body::Publish { data })
    }

    /// A disconnect of `client_id`.
    pub fn disconnect(client_id: &str) -> Self {
        Self::new(
            Channel::Meta(Meta::Disconnect),
            Some(client_id),
            Body::Disconnect,
        )
    }

    /// The channel it is on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Its `id`, when it had a valid one.
    pub fn id(&self) -> Option<&MessageId> {
        self.id.as_ref()
    }

    /// Its `clientId`, when it had one of the right type.
    pub fn client_id(&self) -> Option<&str> {
        match &self.client_id {
            ClientIdField::Valid(id) => Some(id),
            _ => None,
        }
    }

    /// Whether it named a client at all (PUB-1's anonymous publish needs none).
    pub fn has_client_id(&self) -> bool {
        self.client_id != ClientIdField::Absent
    }

    /// The `clientId` a message other than a handshake needs (ERR-1, MSG-4).
    pub fn require_client_id(&self) -> Result<&str, BayeuxError> {
        match &self.client_id {
            ClientIdField::Absent => Err(BayeuxError::NoClientId),
            ClientIdField::Invalid => Err(BayeuxError::InvalidField("clientId")),
            ClientIdField::Valid(id) => Ok(id),
        }
    }

    /// Its `ext` object, if it had one.
    pub fn ext(&self) -> Option<&Ext> {
        self.ext.as_ref()
    }

    /// Its `ext` object to change, made empty when it had none.
    pub fn ext_mut(&mut self) -> &mut Ext {
        self.ext.get_or_insert_with(Ext::new)
    }

    /// What it asks for, or the first field error in it.
    pub fn body(&self) -> Result<&Body, &BayeuxError> {
        self.body.as_ref()
    }

    /// A publish's `data`.
    pub fn data(&self) -> Option<&RawValue> {
        match &self.body {
            Ok(Body::Publish { data }) => Some(data),
            _ => None,
        }
    }

    /// Replaces a publish's `data` (an extension rewriting it); `false` when the message
    /// is not a publish.
    pub fn set_data(&mut self, new: Box<RawValue>) -> bool {
        match &mut self.body {
            Ok(Body::Publish { data }) => {
                *data = new;
                true
            }
            _ => false,
        }
    }

    /// A subscribe's or unsubscribe's `subscription`.
    pub fn subscription(&self) -> Option<&Subscription> {
        match &self.body {
            Ok(Body::Subscribe(s) | Body::Unsubscribe(s)) => Some(s),
            _ => None,
        }
    }
}
