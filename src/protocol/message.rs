//! Incoming Bayeux messages.
//!
//! Every field is kept as raw JSON and only typed when a handler asks for it: a field of the
//! wrong type then fails that one message with a precise `Invalid field` error (MSG-4)
//! instead of failing the whole request, and `data` is never parsed at all, only forwarded.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::BayeuxError;

/// One message as it came off the wire, borrowing from the request body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message<'a> {
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
}

/// The advice a client may send with `/meta/connect` (CN-4, CN-6).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct ClientAdvice {
    /// How long the client wants the connect held, in ms; `0` means "answer now".
    pub timeout: Option<u64>,
}

/// A `subscription` field: one channel or several, with the raw text kept for the echo (SUB-1).
#[derive(Debug)]
pub struct Subscription<'a> {
    /// The names as sent, in order.
    pub channels: Vec<String>,
    /// The field exactly as sent, echoed in the reply.
    pub raw: &'a RawValue,
}

fn is_id(raw: &RawValue) -> bool {
    let first = raw.get().as_bytes().first().copied();
    matches!(first, Some(b'"' | b'-' | b'0'..=b'9'))
}

fn typed<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Option<T>, BayeuxError> {
    raw.map(|raw| serde_json::from_str(raw.get()).map_err(|_| BayeuxError::InvalidField(field)))
        .transpose()
}

fn required<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<T, BayeuxError> {
    typed(raw, field)?.ok_or(BayeuxError::MissingField(field))
}

impl<'a> Message<'a> {
    /// The channel the message is on (MSG-2).
    pub fn channel(&self) -> Result<String, BayeuxError> {
        typed::<String>(self.channel, "channel")
            .ok()
            .flatten()
            .ok_or(BayeuxError::MissingChannel)
    }

    /// The `id`, when it is a string or a number, to echo verbatim (MSG-3). Any other value is
    /// not echoed: it cannot identify a reply for any client.
    pub fn id(&self) -> Option<&'a RawValue> {
        self.id.filter(|raw| is_id(raw))
    }

    /// Fails when `id` is present but neither a string nor a number (MSG-4).
    pub fn check_id(&self) -> Result<(), BayeuxError> {
        match self.id {
            Some(raw) if !is_id(raw) => Err(BayeuxError::InvalidField("id")),
            _ => Ok(()),
        }
    }

    /// The `clientId`; ERR-1 when it is missing.
    pub fn client_id(&self) -> Result<String, BayeuxError> {
        typed::<String>(self.client_id, "clientId")?.ok_or(BayeuxError::NoClientId)
    }

    /// Whether the message names a client at all.
    pub fn has_client_id(&self) -> bool {
        self.client_id.is_some()
    }

    /// The `data` of a publish, untouched.
    pub fn data(&self) -> Result<&'a RawValue, BayeuxError> {
        self.data
            .filter(|raw| raw.get() != "null")
            .ok_or(BayeuxError::MissingField("data"))
    }

    /// The `subscription` of a subscribe or unsubscribe (SUB-1, SUB-2).
    pub fn subscription(&self) -> Result<Subscription<'a>, BayeuxError> {
        let raw = self
            .subscription
            .ok_or(BayeuxError::MissingField("subscription"))?;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let channels = match required::<OneOrMany>(Some(raw), "subscription")? {
            OneOrMany::One(channel) => vec![channel],
            OneOrMany::Many(channels) => channels,
        };
        Ok(Subscription { channels, raw })
    }

    /// The client's advice, if it sent any.
    pub fn advice(&self) -> Result<ClientAdvice, BayeuxError> {
        Ok(typed(self.advice, "advice")?.unwrap_or_default())
    }

    /// The handshake's `version`; its value is not checked (HS-1).
    pub fn version(&self) -> Result<String, BayeuxError> {
        required(self.version, "version")
    }

    /// The handshake's `supportedConnectionTypes`.
    pub fn supported_connection_types(&self) -> Result<Vec<String>, BayeuxError> {
        required(self.supported_connection_types, "supportedConnectionTypes")
    }

    /// The connect's `connectionType`.
    pub fn connection_type(&self) -> Result<String, BayeuxError> {
        required(self.connection_type, "connectionType")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Message<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn fields_typed_on_demand() {
        let m = parse(r#"{"channel":"/a","id":"7","clientId":12,"data":{"x":[1,2]}}"#);
        assert_eq!(m.channel().unwrap(), "/a");
        assert_eq!(m.id().unwrap().get(), r#""7""#);
        assert!(matches!(
            m.client_id(),
            Err(BayeuxError::InvalidField("clientId"))
        ));
        assert_eq!(m.data().unwrap().get(), r#"{"x":[1,2]}"#);
    }

    #[test]
    fn subscription_one_or_many() {
        let m = parse(r#"{"subscription":"/a"}"#);
        assert_eq!(m.subscription().unwrap().channels, ["/a"]);
        let m = parse(r#"{"subscription":["/a","/b/*"]}"#);
        assert_eq!(m.subscription().unwrap().raw.get(), r#"["/a","/b/*"]"#);
        let m = parse(r#"{"subscription":{"a":1}}"#);
        assert!(matches!(
            m.subscription(),
            Err(BayeuxError::InvalidField("subscription"))
        ));
        assert!(matches!(
            parse("{}").subscription(),
            Err(BayeuxError::MissingField("subscription"))
        ));
    }

    #[test]
    fn odd_ids_are_not_echoed() {
        assert!(parse(r#"{"id":{"a":1}}"#).id().is_none());
        assert!(parse(r#"{"id":{"a":1}}"#).check_id().is_err());
        assert!(parse(r#"{"id":"x"}"#).check_id().is_ok());
        assert!(parse(r#"{"id":12}"#).id().is_some());
        assert!(parse(r#"{"channel":5}"#).channel().is_err());
    }
}
