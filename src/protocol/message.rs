//! Incoming Bayeux messages, parsed once into a typed [`Message`].
//!
//! The wire form borrows every field from the request as raw JSON; [`parse_batch`] then
//! types each field the message's channel needs, once. A field of the wrong type fails
//! that one message with a precise `Invalid field` error (MSG-4), never the whole request,
//! and `data` is never parsed at all, only carried. Field errors are kept in the message
//! rather than returned at once, so the core reports them in the protocol's order: an
//! unknown client (ERR-2) before a missing `connectionType`, as CN-1 lists them.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::channel::{ChannelKind, ChannelName, ChannelPattern};
use super::error::BayeuxError;
use super::Meta;

/// A message's `ext` object: extension fields by name (e.g. `ack`, `timesync`).
pub type Ext = Map<String, Value>;

/// A message's `id`: a JSON string or number, echoed verbatim in its reply (MSG-3).
///
/// Ids are short (the CometD and Faye clients count up: `"1"`, `"2"`, …), so one is kept
/// inline, without an allocation, and copied into its reply as it is.
#[derive(Clone)]
pub struct MessageId(IdText);

/// The longest id kept inline.
const INLINE_ID: usize = 22;

#[derive(Clone)]
enum IdText {
    Inline { len: u8, text: [u8; INLINE_ID] },
    Shared(Arc<str>),
}

impl MessageId {
    fn new(json: &str) -> Self {
        if json.len() <= INLINE_ID {
            let mut text = [0; INLINE_ID];
            text[..json.len()].copy_from_slice(json.as_bytes());
            let len = u8::try_from(json.len()).expect("an inline id fits a byte");
            Self(IdText::Inline { len, text })
        } else {
            Self(IdText::Shared(json.into()))
        }
    }

    /// The id as JSON text (`"7"` or `7`).
    pub fn as_json(&self) -> &str {
        match &self.0 {
            IdText::Inline { len, text } => {
                std::str::from_utf8(&text[..usize::from(*len)]).expect("copied from UTF-8 text")
            }
            IdText::Shared(text) => text,
        }
    }

    /// An id from a counter, for messages the server makes itself.
    pub fn number(n: u64) -> Self {
        Self::new(&n.to_string())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_json())
    }
}

impl PartialEq for MessageId {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

impl Serialize for MessageId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Valid JSON when it was read, so this only re-reads a few bytes.
        let raw: &RawValue =
            serde_json::from_str(self.as_json()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

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
    fn parse(raw: &RawValue) -> Result<Self, BayeuxError> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let names = match typed::<OneOrMany>(raw, "subscription")? {
            OneOrMany::One(name) => vec![name],
            OneOrMany::Many(names) => names,
        };
        let patterns = names
            .iter()
            .map(|name| match ChannelPattern::parse(name) {
                None => Err(BayeuxError::InvalidChannel(name.clone())),
                Some(p) if p.kind() == ChannelKind::Meta => {
                    Err(BayeuxError::ForbiddenChannel(name.clone()))
                }
                Some(p) => Ok(p),
            })
            .collect();
        Ok(Self {
            patterns,
            raw: raw.to_owned(),
        })
    }

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

/// The wire form: every field raw, borrowing from the request.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(borrow)]
    channel: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    client_id: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    subscription: Option<&'a RawValue>,
    #[serde(borrow)]
    advice: Option<&'a RawValue>,
    #[serde(borrow)]
    version: Option<&'a RawValue>,
    #[serde(borrow)]
    supported_connection_types: Option<&'a RawValue>,
    #[serde(borrow)]
    connection_type: Option<&'a RawValue>,
    #[serde(borrow)]
    ext: Option<&'a RawValue>,
}

fn typed<'a, T: Deserialize<'a>>(raw: &'a RawValue, field: &'static str) -> Result<T, BayeuxError> {
    serde_json::from_str(raw.get()).map_err(|_| BayeuxError::InvalidField(field))
}

fn required<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<T, BayeuxError> {
    typed(raw.ok_or(BayeuxError::MissingField(field))?, field)
}

fn is_id(raw: &RawValue) -> bool {
    let first = raw.get().as_bytes().first().copied();
    matches!(first, Some(b'"' | b'-' | b'0'..=b'9'))
}

/// Why a request's text is not Bayeux messages at all (HTTP-4; a WebSocket closes 1007).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedBatch {
    /// Not JSON, or an array holding something other than objects.
    #[error("malformed JSON messages")]
    Json,
    /// JSON, but neither an object nor an array.
    #[error("expected a JSON object or array of objects")]
    NotMessages,
}

/// Reads a request's JSON text as a batch (MSG-1): one message or an array of them. The
/// first byte says which, so the text is parsed once.
pub fn parse_batch(json: &[u8]) -> Result<Vec<Result<Message, Malformed>>, MalformedBatch> {
    let text = std::str::from_utf8(json).map_err(|_| MalformedBatch::Json)?;
    let wires: Vec<Wire<'_>> = match text.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str(text).map_err(|_| MalformedBatch::Json)?,
        Some(b'{') => vec![serde_json::from_str(text).map_err(|_| MalformedBatch::Json)?],
        _ => return Err(MalformedBatch::NotMessages),
    };
    Ok(wires.into_iter().map(Message::from_wire).collect())
}

impl Message {
    fn from_wire(wire: Wire<'_>) -> Result<Message, Malformed> {
        let channel = wire
            .channel
            .and_then(|raw| typed::<String>(raw, "channel").ok());
        let id = wire
            .id
            .filter(|raw| is_id(raw))
            .map(|raw| MessageId::new(raw.get()));
        let id_invalid = wire.id.is_some() && id.is_none();
        let (Some(channel), false) = (&channel, id_invalid) else {
            let error = if id_invalid {
                BayeuxError::InvalidField("id")
            } else {
                BayeuxError::MissingChannel
            };
            return Err(Malformed {
                channel: channel.map(Into::into),
                id,
                error,
            });
        };
        let channel = Channel::parse(channel);
        let client_id = match wire.client_id.map(|raw| typed::<String>(raw, "clientId")) {
            None => ClientIdField::Absent,
            Some(Ok(id)) => ClientIdField::Valid(id.into()),
            Some(Err(_)) => ClientIdField::Invalid,
        };
        let ext = wire
            .ext
            .and_then(|raw| serde_json::from_str::<Ext>(raw.get()).ok());
        let body = Self::parse_body(&channel, &wire);
        Ok(Message {
            channel,
            id,
            client_id,
            ext,
            body,
        })
    }

    fn parse_body(channel: &Channel, wire: &Wire<'_>) -> Result<Body, BayeuxError> {
        Ok(match channel {
            Channel::Meta(Meta::Handshake) => {
                required::<String>(wire.version, "version")?;
                Body::Handshake {
                    supported_connection_types: required(
                        wire.supported_connection_types,
                        "supportedConnectionTypes",
                    )?,
                }
            }
            Channel::Meta(Meta::Connect) => Body::Connect {
                connection_type: required(wire.connection_type, "connectionType")?,
                advice: match wire.advice {
                    Some(raw) => typed(raw, "advice")?,
                    None => ClientAdvice::default(),
                },
            },
            Channel::Meta(Meta::Subscribe) => Body::Subscribe(Self::parse_subscription(wire)?),
            Channel::Meta(Meta::Unsubscribe) => Body::Unsubscribe(Self::parse_subscription(wire)?),
            Channel::Meta(Meta::Disconnect) => Body::Disconnect,
            Channel::UnknownMeta(_) => Body::UnknownMeta,
            Channel::Invalid(name) => return Err(BayeuxError::InvalidChannel(name.to_string())),
            Channel::Service(_) | Channel::Broadcast(_) => Body::Publish {
                data: wire
                    .data
                    .filter(|raw| raw.get() != "null")
                    .ok_or(BayeuxError::MissingField("data"))?
                    .to_owned(),
            },
        })
    }

    fn parse_subscription(wire: &Wire<'_>) -> Result<Subscription, BayeuxError> {
        Subscription::parse(
            wire.subscription
                .ok_or(BayeuxError::MissingField("subscription"))?,
        )
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Message, Malformed> {
        parse_batch(json.as_bytes()).unwrap().pop().unwrap()
    }

    #[test]
    fn fields_typed_once() {
        let m =
            parse(r#"{"channel":"/a","id":"7","clientId":12,"data":{"x":[1,2]},"ext":{"ack":3}}"#)
                .unwrap();
        assert_eq!(
            m.channel(),
            &Channel::Broadcast(ChannelName::parse("/a").unwrap())
        );
        assert_eq!(m.id().unwrap().as_json(), r#""7""#);
        assert_eq!(
            m.require_client_id(),
            Err(BayeuxError::InvalidField("clientId"))
        );
        assert_eq!(m.data().unwrap().get(), r#"{"x":[1,2]}"#);
        assert_eq!(m.ext().unwrap()["ack"], 3);
    }

    #[test]
    fn channels_classified() {
        let kind = |text| Channel::parse(text);
        assert_eq!(kind("/meta/connect"), Channel::Meta(Meta::Connect));
        assert!(matches!(kind("/meta/other"), Channel::UnknownMeta(_)));
        assert!(matches!(kind("/meta"), Channel::UnknownMeta(_)));
        assert!(matches!(kind("/service/echo"), Channel::Service(_)));
        assert!(matches!(kind("/metadata"), Channel::Broadcast(_)));
        assert!(matches!(kind("/a/*"), Channel::Invalid(_)));
    }

    #[test]
    fn subscription_one_or_many() {
        let sub = |json| parse(json).unwrap().body().cloned().map_err(Clone::clone);
        let Ok(Body::Subscribe(s)) =
            sub(r#"{"channel":"/meta/subscribe","subscription":["/a","/b/*"]}"#)
        else {
            panic!("a subscribe")
        };
        assert_eq!(s.raw().get(), r#"["/a","/b/*"]"#);
        assert_eq!(s.patterns().unwrap().len(), 2);
        assert_eq!(
            sub(r#"{"channel":"/meta/subscribe","subscription":{"a":1}}"#).unwrap_err(),
            BayeuxError::InvalidField("subscription")
        );
        assert_eq!(
            sub(r#"{"channel":"/meta/subscribe"}"#).unwrap_err(),
            BayeuxError::MissingField("subscription")
        );
        let Ok(Body::Subscribe(s)) =
            sub(r#"{"channel":"/meta/subscribe","subscription":["/a","/meta/x"]}"#)
        else {
            panic!("a subscribe")
        };
        assert_eq!(
            s.patterns().unwrap_err(),
            &BayeuxError::ForbiddenChannel("/meta/x".into())
        );
    }

    #[test]
    fn malformed_messages_keep_what_could_be_read() {
        let m = parse(r#"{"id":{"a":1},"channel":"/a"}"#).unwrap_err();
        assert_eq!(
            (m.channel.as_deref(), m.error),
            (Some("/a"), BayeuxError::InvalidField("id"))
        );
        let m = parse(r#"{"id":12,"channel":5}"#).unwrap_err();
        assert_eq!(m.error, BayeuxError::MissingChannel);
        assert_eq!(m.id.unwrap().as_json(), "12");
    }

    #[test]
    fn batches() {
        assert_eq!(parse_batch(b"[]").unwrap().len(), 0);
        assert_eq!(parse_batch(b" {\"channel\":\"/a\"} ").unwrap().len(), 1);
        assert_eq!(parse_batch(b"[{},{}]").unwrap().len(), 2);
        for bad in [&b"42"[..], b"\"x\"", b"null", b"[1]", b"[{}", b"", b"\xff"] {
            assert!(parse_batch(bad).is_err(), "{bad:?}");
        }
    }
}
