//! Replies to the client's messages, and the advice they carry.
//!
//! A reply is a typed value until the whole response is written (see [`super::Response`]),
//! so extensions can still change it on its way out: add to its `ext`, set a field, or
//! turn it into a failure.

use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::error::BayeuxError;
use super::id::MessageId;
use super::message::{Channel, Ext};
use super::Meta;

/// What the client should do next (ADV-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reconnect {
    /// Connect again after `interval`.
    Retry,
    /// Handshake again: the session is gone.
    Handshake,
    /// Stop: the session was ended on purpose, or the server will not have this client.
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
    pub const HANDSHAKE: Advice = Advice::only(Reconnect::Handshake);

    /// Advice that tells the client to stop (SEC-1: a denied handshake).
    pub const NONE: Advice = Advice::only(Reconnect::None);

    const fn only(reconnect: Reconnect) -> Advice {
        Advice {
            reconnect,
            interval: 0,
            timeout: None,
            max_interval: None,
            multiple_clients: None,
        }
    }
}

/// A reply to one message. Only the fields its channel needs are set; the ones few
/// replies carry are boxed, so a reply stays small as it moves through the core.
#[derive(Debug, Clone)]
pub struct Reply {
    channel: Option<Channel>,
    id: Option<MessageId>,
    client_id: Option<Arc<str>>,
    error: Option<BayeuxError>,
    advice: Option<Advice>,
    /// The batch number of the events a connect reply carries, in acknowledged delivery.
    batch: Option<u64>,
    successful: bool,
    more: Option<Box<More>>,
}

/// The fields of a reply that few replies carry.
#[derive(Debug, Clone, Default)]
struct More {
    /// A handshake's: with the version fields (HS-1).
    supported_connection_types: Option<Vec<&'static str>>,
    subscription: Option<Box<RawValue>>,
    data: Option<Box<RawValue>>,
    ext: Option<Ext>,
    timestamp: Option<String>,
}

/// An error as its wire string.
struct WireError<'a>(&'a BayeuxError);

impl Serialize for WireError<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Reply", 8)?;
        if let Some(channel) = &self.channel {
            out.serialize_field("channel", channel.as_str())?;
        }
        if let Some(id) = &self.id {
            out.serialize_field("id", id)?;
        }
        out.serialize_field("successful", &self.successful)?;
        if let Some(client_id) = &self.client_id {
            out.serialize_field("clientId", &**client_id)?;
        }
        if let Some(error) = &self.error {
            out.serialize_field("error", &WireError(error))?;
        }
        let more = self.more.as_deref();
        if let Some(types) = more.and_then(|m| m.supported_connection_types.as_ref()) {
            out.serialize_field("version", "1.0")?;
            out.serialize_field("minimumVersion", "1.0")?;
            out.serialize_field("supportedConnectionTypes", types)?;
        }
        if let Some(subscription) = more.and_then(|m| m.subscription.as_ref()) {
            out.serialize_field("subscription", subscription)?;
        }
        if let Some(data) = more.and_then(|m| m.data.as_ref()) {
            out.serialize_field("data", data)?;
        }
        if let Some(advice) = &self.advice {
            out.serialize_field("advice", advice)?;
        }
        if let Some(ext) = more.and_then(|m| m.ext.as_ref()) {
            out.serialize_field("ext", ext)?;
        }
        if let Some(timestamp) = more.and_then(|m| m.timestamp.as_ref()) {
            out.serialize_field("timestamp", timestamp)?;
        }
        out.end()
    }
}

impl Reply {
    /// A successful reply on `channel`, echoing `id` (MSG-3).
    pub fn ok(channel: impl Into<Channel>, id: Option<MessageId>) -> Self {
        Self {
            channel: Some(channel.into()),
            id,
            client_id: None,
            error: None,
            advice: None,
            batch: None,
            successful: true,
            more: None,
        }
    }

    /// A failed reply: the error's wire string, and its advice when it has one.
    pub fn failed(channel: Option<Channel>, id: Option<MessageId>, error: BayeuxError) -> Self {
        let mut reply = Self::ok(Meta::Connect, id);
        reply.channel = channel;
        reply.fail(error);
        reply
    }

    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }

    /// Turns the reply into a failure with `error` (and the error's advice, if any).
    pub fn fail(&mut self, error: BayeuxError) {
        self.successful = false;
        self.advice = error.advice().or(self.advice);
        self.error = Some(error);
        if let Some(more) = &mut self.more {
            more.data = None;
        }
        self.batch = None;
    }

    /// Adds the client id.
    pub fn client_id(mut self, client_id: Arc<str>) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// Adds advice.
    pub fn advice(mut self, advice: Advice) -> Self {
        self.advice = Some(advice);
        self
    }

    /// Asks the client to wait at least `interval` ms before its next request, when the
    /// reply's advice sends it anywhere (STORM-1).
    pub fn delay(&mut self, interval: u64) {
        if let Some(advice) = self
            .advice
            .as_mut()
            .filter(|a| a.reconnect != Reconnect::None)
        {
            advice.interval = advice.interval.max(interval);
        }
    }

    /// Whether the reply sends the client back to the handshake.
    pub fn advises_handshake(&self) -> bool {
        self.advice
            .is_some_and(|a| a.reconnect == Reconnect::Handshake)
    }

    /// Adds the handshake's version fields and the server's connection types (HS-1).
    pub fn handshake(mut self, connection_types: Vec<&'static str>) -> Self {
        self.more().supported_connection_types = Some(connection_types);
        self
    }

    /// Echoes the `subscription` field (SUB-1).
    pub fn subscription(mut self, subscription: &RawValue) -> Self {
        self.more().subscription = Some(subscription.to_owned());
        self
    }

    /// Adds `data`, for a service's answer (SVC-2).
    pub fn data(mut self, data: Option<Box<RawValue>>) -> Self {
        if data.is_some() {
            self.more().data = data;
        }
        self
    }

    /// Records the batch number of the events delivered with this connect reply.
    pub(crate) fn batch(mut self, batch: Option<u64>) -> Self {
        self.batch = batch;
        self
    }

    /// The channel it answers on.
    pub fn channel_name(&self) -> Option<&str> {
        self.channel.as_ref().map(Channel::as_str)
    }

    /// The client id it carries (a handshake's: the new session's).
    pub fn client_id_given(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// Whether it reports success.
    pub fn is_successful(&self) -> bool {
        self.successful
    }

    /// The error it reports, if it failed.
    pub fn error(&self) -> Option<&BayeuxError> {
        self.error.as_ref()
    }

    /// Its advice, if any.
    pub fn advice_given(&self) -> Option<&Advice> {
        self.advice.as_ref()
    }

    /// Its `data` (a service's answer), if any.
    pub fn data_given(&self) -> Option<&RawValue> {
        self.more.as_ref()?.data.as_deref()
    }

    /// Its `ext`, if any.
    pub fn ext(&self) -> Option<&Ext> {
        self.more.as_ref()?.ext.as_ref()
    }

    /// Its `ext` to change, made empty when it had none.
    pub fn ext_mut(&mut self) -> &mut Ext {
        self.more().ext.get_or_insert_with(Ext::new)
    }

    /// Sets the `timestamp` field.
    pub fn set_timestamp(&mut self, timestamp: String) {
        self.more().timestamp = Some(timestamp);
    }

    /// For a connect reply in acknowledged delivery (the `ack` extension), the batch
    /// number of the events delivered with it: the number the client acknowledges on its
    /// next connect. `None` when the reply carries no events.
    pub fn delivered_batch(&self) -> Option<u64> {
        self.batch
    }

    /// Appends the reply's JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Strings, numbers, maps of JSON values and already-valid raw JSON cannot fail.
        serde_json::to_writer(out, self).expect("a reply always serializes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_reply_carries_error_and_advice() {
        let error = BayeuxError::UnknownClient("abc".into());
        let reply = Reply::failed(Some(Meta::Connect.into()), None, error);
        let mut json = Vec::new();
        reply.write_json(&mut json);
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"channel":"/meta/connect","successful":false,
                "error":"402:abc:Unknown client","advice":{"reconnect":"handshake","interval":0}})
        );
    }
}
