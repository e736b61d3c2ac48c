//! From the wire to a typed [`Message`]: the request's JSON is parsed once, each field
//! borrowed as raw JSON, then typed as the message's channel needs it.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Body, Channel, ClientAdvice, ClientIdField, Ext, Malformed, Message, Subscription};
use crate::protocol::channel::{ChannelKind, ChannelPattern};
use crate::protocol::error::BayeuxError;
use crate::protocol::id::MessageId;
use crate::protocol::Meta;

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
            Channel::Service(_) | Channel::Broadcast(_) => {
                let data = wire
                    .data
                    .filter(|raw| raw.get() != "null")
                    .ok_or(BayeuxError::MissingField("data"))?;
                if depth(data.get()) > MAX_DATA_DEPTH {
                    return Err(BayeuxError::TooDeep(MAX_DATA_DEPTH));
                }
                Body::Publish {
                    data: data.to_owned(),
                }
            }
        })
    }

    fn parse_subscription(wire: &Wire<'_>) -> Result<Subscription, BayeuxError> {
        Subscription::parse(
            wire.subscription
                .ok_or(BayeuxError::MissingField("subscription"))?,
        )
    }
}

/// How deeply arrays and objects may nest in a publish's `data` (LIM-10). herald never
/// parses `data`, but every subscriber's client does, and a parser that recurses may
/// overflow its stack on a few thousand levels.
pub const MAX_DATA_DEPTH: usize = 64;

/// How deeply arrays and objects nest in valid JSON `text`: one pass over its bytes,
/// skipping strings (no bracket inside a string counts).
fn depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChannelName;

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

    #[test]
    fn data_nesting_is_counted_outside_strings() {
        assert_eq!(super::depth(r#"1"#), 0);
        assert_eq!(super::depth(r#"[[1],{"a":[2]}]"#), 3);
        assert_eq!(super::depth(r#"{"s":"[[[[\"{"}"#), 1);
    }
}
