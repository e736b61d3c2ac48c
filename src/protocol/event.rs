//! The message a publish delivers to every subscriber.
//!
//! An [`Event`] is open while extensions may still change it; [`Event::freeze`] then
//! serializes it once into a [`FrozenEvent`], which every subscriber's queue shares (a
//! reference count, not a copy). Only a per-recipient hook that changes a delivery makes a
//! copy, for that recipient alone.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::channel::ChannelName;
use super::message::Ext;

/// A broadcast on its way out: PUB-4's `{"channel","data"}`, never the publisher's
/// `clientId` or `id`, plus what outgoing extensions add (`ext`, `timestamp`).
#[derive(Debug, Clone)]
pub struct Event {
    channel: ChannelName,
    data: Box<RawValue>,
    ext: Option<Ext>,
    timestamp: Option<String>,
}

impl Event {
    /// A delivery of `data` on `channel`.
    pub fn new(channel: ChannelName, data: Box<RawValue>) -> Self {
        Self {
            channel,
            data,
            ext: None,
            timestamp: None,
        }
    }

    /// The channel it was published to.
    pub fn channel(&self) -> &ChannelName {
        &self.channel
    }

    /// Its payload.
    pub fn data(&self) -> &RawValue {
        &self.data
    }

    /// Replaces its payload.
    pub fn set_data(&mut self, data: Box<RawValue>) {
        self.data = data;
    }

    /// Its `ext`, if an extension gave it one.
    pub fn ext(&self) -> Option<&Ext> {
        self.ext.as_ref()
    }

    /// Its `ext` to change, made empty when it had none.
    pub fn ext_mut(&mut self) -> &mut Ext {
        self.ext.get_or_insert_with(Ext::new)
    }

    /// Sets the `timestamp` field.
    pub fn set_timestamp(&mut self, timestamp: String) {
        self.timestamp = Some(timestamp);
    }

    /// Serializes it, once: from now on it is shared, not changed.
    pub fn freeze(self) -> FrozenEvent {
        const HEAD: &[u8] = b"{\"channel\":\"";
        const MIDDLE: &[u8] = b"\",\"data\":";
        let (channel, data) = (self.channel.as_str().as_bytes(), self.data.get().as_bytes());
        let mut buf =
            Vec::with_capacity(HEAD.len() + channel.len() + MIDDLE.len() + data.len() + 1);
        buf.extend_from_slice(HEAD);
        // Channel names hold no quote, backslash or control byte (CH-1): no escaping needed.
        buf.extend_from_slice(channel);
        buf.extend_from_slice(MIDDLE);
        let start = buf.len();
        buf.extend_from_slice(data);
        let data_at = start..buf.len();
        if let Some(ext) = &self.ext {
            buf.extend_from_slice(b",\"ext\":");
            serde_json::to_writer(&mut buf, ext).expect("a map of JSON values serializes");
        }
        if let Some(timestamp) = &self.timestamp {
            buf.extend_from_slice(b",\"timestamp\":");
            serde_json::to_writer(&mut buf, timestamp).expect("a string serializes");
        }
        buf.push(b'}');
        FrozenEvent(Arc::new(Frozen {
            channel: self.channel,
            ext: self.ext,
            json: Bytes::from(buf),
            data_at,
        }))
    }
}

/// An event serialized once and shared by every queue it is delivered to.
#[derive(Clone)]
pub struct FrozenEvent(Arc<Frozen>);

struct Frozen {
    channel: ChannelName,
    ext: Option<Ext>,
    json: Bytes,
    /// Where `data` sits in `json`: kept once, not twice.
    data_at: Range<usize>,
}

impl FrozenEvent {
    /// The channel it was published to.
    pub fn channel(&self) -> &ChannelName {
        &self.0.channel
    }

    /// Its payload as JSON text.
    pub fn data_json(&self) -> &str {
        // The range was cut from the UTF-8 text of a `RawValue` at freeze time.
        std::str::from_utf8(&self.0.json[self.0.data_at.clone()]).expect("data is UTF-8 JSON")
    }

    /// Its `ext`, if it has one.
    pub fn ext(&self) -> Option<&Ext> {
        self.0.ext.as_ref()
    }

    /// The whole message as JSON, ready to be concatenated into a response.
    pub fn json(&self) -> &Bytes {
        &self.0.json
    }

    /// An open copy to change (a per-recipient hook rewriting one delivery).
    pub fn thaw(&self) -> Event {
        let data = RawValue::from_string(self.data_json().to_owned()).expect("data is valid JSON");
        let json: serde_json::Value =
            serde_json::from_slice(&self.0.json).expect("a frozen event is valid JSON");
        Event {
            channel: self.0.channel.clone(),
            data,
            ext: self.0.ext.clone(),
            timestamp: json["timestamp"].as_str().map(ToOwned::to_owned),
        }
    }

    /// Whether both are the same shared message.
    pub fn same(&self, other: &FrozenEvent) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for FrozenEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0.json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        let data = RawValue::from_string(r#"{"text":"hé \"q\""}"#.into()).unwrap();
        Event::new(ChannelName::parse("/chat/a").unwrap(), data)
    }

    #[test]
    fn only_channel_and_data_by_default() {
        let frozen = event().freeze();
        let value: serde_json::Value = serde_json::from_slice(frozen.json()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"channel":"/chat/a","data":{"text":"hé \"q\""}})
        );
        assert_eq!(frozen.data_json(), r#"{"text":"hé \"q\""}"#);
    }

    #[test]
    fn extensions_fields_are_serialized_and_survive_a_thaw() {
        let mut open = event();
        open.ext_mut().insert("n".into(), 1.into());
        open.set_timestamp("Tue, 1 Dec 2026 01:02:03 GMT".into());
        let frozen = open.freeze();
        let value: serde_json::Value = serde_json::from_slice(frozen.json()).unwrap();
        assert_eq!(value["ext"]["n"], 1);
        assert_eq!(value["timestamp"], "Tue, 1 Dec 2026 01:02:03 GMT");
        let again = frozen.thaw().freeze();
        assert_eq!(again.json(), frozen.json());
    }
}
