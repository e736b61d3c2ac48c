//! Outgoing Bayeux messages: replies to the client's messages, advice, and the event
//! a publish delivers.
//!
//! Replies are serialized straight to bytes; a response is then built by concatenating
//! those bytes with the events queued for the client (see `transport::response`), never by
//! building a JSON tree of the whole response.

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use super::channel::ChannelName;
use crate::error::BayeuxError;

/// What the client should do next (ADV-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reconnect {
    /// Connect again after `interval`.
    Retry,
    /// Handshake again: the session is gone.
    Handshake,
    /// Stop: the session was ended on purpose.
    None,
}

/// Server advice, in milliseconds as Bayeux has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Advice {
    /// The action to take.
    pub reconnect: Reconnect,
    /// How long to wait before the next connect.
    pub interval: u64,
    /// How long the server holds a connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// How long a session lives without a connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<u64>,
    /// Set when this browser holds as many polls as it may (TR-8).
    #[serde(rename = "multiple-clients", skip_serializing_if = "Option::is_none")]
    pub multiple_clients: Option<bool>,
}

impl Advice {
    /// Advice that sends the client back to the handshake (ERR-2, HS-4).
    pub const HANDSHAKE: Advice = Advice {
        reconnect: Reconnect::Handshake,
        interval: 0,
        timeout: None,
        max_interval: None,
        multiple_clients: None,
    };
}

/// A reply to one message. Only the fields a meta channel needs are set.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a RawValue>,
    successful: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supported_connection_types: Option<&'a [&'static str]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    advice: Option<Advice>,
}

impl<'a> Reply<'a> {
    /// A successful reply on `channel`, echoing `id` (MSG-3).
    pub fn ok(channel: &'a str, id: Option<&'a RawValue>) -> Self {
        Self {
            channel: Some(channel),
            id,
            successful: true,
            client_id: None,
            error: None,
            version: None,
            minimum_version: None,
            supported_connection_types: None,
            subscription: None,
            data: None,
            advice: None,
        }
    }

    /// A failed reply: the error's wire string, and its advice when it has one.
    pub fn failed(channel: Option<&'a str>, id: Option<&'a RawValue>, error: &BayeuxError) -> Self {
        Self {
            channel,
            successful: false,
            error: Some(error.to_string()),
            advice: error.advice(),
            ..Self::ok("", id)
        }
    }

    /// Adds the client id.
    pub fn client_id(mut self, client_id: &'a str) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// Adds advice.
    pub fn advice(mut self, advice: Advice) -> Self {
        self.advice = Some(advice);
        self
    }

    /// Adds the handshake's version fields and the server's connection types (HS-1).
    pub fn handshake(mut self, connection_types: &'a [&'static str]) -> Self {
        self.version = Some("1.0");
        self.minimum_version = Some("1.0");
        self.supported_connection_types = Some(connection_types);
        self
    }

    /// Echoes the `subscription` field (SUB-1).
    pub fn subscription(mut self, subscription: &'a RawValue) -> Self {
        self.subscription = Some(subscription);
        self
    }

    /// Adds `data`, for a service's answer (SVC-2).
    pub fn data(mut self, data: Option<&'a RawValue>) -> Self {
        self.data = data;
        self
    }

    /// The reply as JSON bytes.
    pub fn to_bytes(&self) -> Bytes {
        // Serializing a struct of strings, numbers and already-valid raw JSON cannot fail.
        Bytes::from(serde_json::to_vec(self).expect("a reply always serializes"))
    }
}

/// The message a publish delivers to every subscriber, serialized once (PUB-4): only the
/// channel and the data, never the publisher's `clientId`, `id` or `ext`.
pub fn event(channel: &ChannelName, data: &RawValue) -> Bytes {
    const HEAD: &[u8] = b"{\"channel\":\"";
    const MIDDLE: &[u8] = b"\",\"data\":";
    let (channel, data) = (channel.as_str().as_bytes(), data.get().as_bytes());
    let mut buf = Vec::with_capacity(HEAD.len() + channel.len() + MIDDLE.len() + data.len() + 1);
    buf.extend_from_slice(HEAD);
    // Channel names hold no quote, backslash or control byte (CH-1): no escaping needed.
    buf.extend_from_slice(channel);
    buf.extend_from_slice(MIDDLE);
    buf.extend_from_slice(data);
    buf.push(b'}');
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_is_valid_json_with_only_channel_and_data() {
        let data = RawValue::from_string(r#"{"text":"hé \"q\""}"#.into()).unwrap();
        let bytes = event(&ChannelName::parse("/chat/a").unwrap(), &data);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"channel":"/chat/a","data":{"text":"hé \"q\""}})
        );
    }

    #[test]
    fn failed_reply_carries_error_and_advice() {
        let error = BayeuxError::UnknownClient("abc".into());
        let bytes = Reply::failed(Some("/meta/connect"), None, &error).to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"channel":"/meta/connect","successful":false,
                "error":"402:abc:Unknown client","advice":{"reconnect":"handshake","interval":0}})
        );
    }
}
