//! The Bayeux messages a simulated client sends (built as text, no allocation beyond the
//! string) and the reading of what comes back: meta replies, publish acknowledgements and
//! delivered events with the benchmark's stamp in `data`.

use std::borrow::Cow;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::value::RawValue;

/// How the client talks to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Transport {
    #[serde(rename = "long-polling")]
    LongPolling,
    #[serde(rename = "websocket")]
    WebSocket,
}

impl Transport {
    /// The `connectionType` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::LongPolling => "long-polling",
            Transport::WebSocket => "websocket",
        }
    }
}

/// `/meta/handshake`, offering both transports. With `ack`, it asks for acknowledged
/// delivery with `ext.ack: true`, as the CometD client's `AckExtension` does.
pub fn handshake(id: u64, ack: bool) -> String {
    let ext = if ack { r#","ext":{"ack":true}"# } else { "" };
    format!(
        r#"[{{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0","supportedConnectionTypes":["long-polling","websocket"],"id":"{id}"{ext}}}]"#
    )
}

/// `/meta/connect`. The first one after a handshake carries `advice.timeout: 0`, as the
/// CometD client's does, so every server answers it at once. `ack` is the last batch
/// received, in a session the server granted acknowledged delivery (`ext.ack`).
pub fn connect(
    client_id: &str,
    transport: Transport,
    id: u64,
    first: bool,
    ack: Option<u64>,
) -> String {
    let advice = if first {
        r#","advice":{"timeout":0}"#
    } else {
        ""
    };
    let ext = match ack {
        Some(batch) => format!(r#","ext":{{"ack":{batch}}}"#),
        None => String::new(),
    };
    format!(
        r#"[{{"channel":"/meta/connect","clientId":"{client_id}","connectionType":"{}","id":"{id}"{advice}{ext}}}]"#,
        transport.as_str()
    )
}

/// `/meta/subscribe` to one channel.
pub fn subscribe(client_id: &str, channel: &str, id: u64) -> String {
    format!(
        r#"[{{"channel":"/meta/subscribe","clientId":"{client_id}","subscription":"{channel}","id":"{id}"}}]"#
    )
}

/// A publish whose `data` is the stamp (see [`stamp`]).
pub fn publish(client_id: &str, channel: &str, id: u64, data: &str) -> String {
    format!(r#"[{{"channel":"{channel}","clientId":"{client_id}","data":{data},"id":"{id}"}}]"#)
}

/// The `data` of a benchmark message: send time in µs since the UNIX epoch, the publisher's
/// number, its sequence number within the phase, the phase, and padding.
pub fn stamp(ts_us: u64, publisher: u64, seq: u64, phase: u32, pad: &str) -> String {
    format!(r#"{{"ts":{ts_us},"p":{publisher},"seq":{seq},"ph":{phase},"pad":"{pad}"}}"#)
}

/// What the benchmark reads from a delivered message's `data`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Stamp {
    pub ts: u64,
    pub p: u64,
    pub seq: u64,
    pub ph: u32,
}

#[derive(Deserialize)]
struct Advice<'a> {
    #[serde(borrow)]
    reconnect: Option<Cow<'a, str>>,
    timeout: Option<u64>,
}

/// A reply's `ext.ack`, in the shapes the CometD client's `AckExtension` reads: `true` in a
/// handshake reply (or, newer servers, `{"enabled": true, "batch": n}`), the batch number
/// in a connect reply.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum Ack {
    Flag(bool),
    Batch(u64),
    Object {
        enabled: Option<bool>,
        batch: Option<u64>,
    },
    /// Anything else, which the client ignores.
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Ext {
    ack: Option<Ack>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    channel: Option<Cow<'a, str>>,
    successful: Option<bool>,
    #[serde(rename = "clientId")]
    client_id: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    advice: Option<Advice<'a>>,
    error: Option<String>,
    #[serde(rename = "supportedConnectionTypes")]
    supported: Option<Vec<String>>,
    ext: Option<Ext>,
}

/// Which reply this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Handshake,
    Connect,
    Subscribe,
    OtherMeta,
    /// The acknowledgement of a publish.
    Publish,
}

/// A reply to something the client sent.
#[derive(Debug)]
pub struct Reply {
    pub kind: ReplyKind,
    pub successful: bool,
    pub client_id: Option<String>,
    /// `advice.reconnect == "handshake"`: the session is gone.
    pub rehandshake: bool,
    pub timeout_ms: Option<u64>,
    pub error: Option<String>,
    pub supported: Option<Vec<String>>,
    /// `ext.ack`, when there is one.
    pub ack: Option<Ack>,
}

/// The client side of acknowledged delivery, kept as the CometD client's `AckExtension`
/// keeps it: whether the server granted it at the handshake, and the last batch number a
/// connect reply carried (the number the next connect acknowledges).
#[derive(Debug, Default, Clone, Copy)]
pub struct AckState {
    granted: bool,
    batch: u64,
}

impl AckState {
    /// A handshake reply starts a new session: granted only by `ext.ack: true` (or
    /// `{"enabled": true}`), from batch 0 unless the server names another.
    pub fn handshake(&mut self, r: &Reply) {
        *self = AckState::default();
        match r.ack {
            Some(Ack::Flag(granted)) => self.granted = granted,
            Some(Ack::Object { enabled, batch }) => {
                self.granted = enabled == Some(true);
                self.batch = batch.unwrap_or(0);
            }
            _ => {}
        }
    }

    /// A connect reply: a successful one's batch number, if it has one, is the new last
    /// batch. Says whether it had one.
    pub fn connect(&mut self, r: &Reply) -> bool {
        match r.ack {
            Some(Ack::Batch(batch)) if self.granted && r.successful => {
                self.batch = batch;
                true
            }
            _ => false,
        }
    }

    pub fn granted(&self) -> bool {
        self.granted
    }

    /// The next connect's `ext.ack`: `None` when the session has no acknowledged delivery.
    pub fn outgoing(&self) -> Option<u64> {
        self.granted.then_some(self.batch)
    }
}

/// One response (an HTTP body or a WebSocket frame), read.
#[derive(Debug, Default)]
pub struct Parsed {
    pub replies: Vec<Reply>,
    /// Events carrying a benchmark stamp.
    pub deliveries: Vec<Stamp>,
    /// Events whose `data` was not a benchmark stamp.
    pub other_events: usize,
}

impl Parsed {
    /// The first reply of this kind.
    pub fn reply(&self, kind: ReplyKind) -> Option<&Reply> {
        self.replies.iter().find(|r| r.kind == kind)
    }
}

/// Reads a response: a JSON array of messages (a lone object is taken too).
pub fn parse(body: &[u8]) -> Result<Parsed> {
    let context = || {
        format!(
            "not a Bayeux response: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    };
    let array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let wires: Vec<Wire> = if array {
        serde_json::from_slice(body).with_context(context)?
    } else {
        vec![serde_json::from_slice(body).with_context(context)?]
    };
    let mut out = Parsed::default();
    for w in wires {
        let channel = w.channel.as_deref().unwrap_or("");
        let meta = channel.starts_with("/meta/");
        if !meta {
            if let Some(data) = w.data {
                match serde_json::from_str::<Stamp>(data.get()) {
                    Ok(s) => out.deliveries.push(s),
                    Err(_) => out.other_events += 1,
                }
                continue;
            }
        }
        let kind = match channel {
            "/meta/handshake" => ReplyKind::Handshake,
            "/meta/connect" => ReplyKind::Connect,
            "/meta/subscribe" => ReplyKind::Subscribe,
            c if c.starts_with("/meta/") => ReplyKind::OtherMeta,
            _ => ReplyKind::Publish,
        };
        let (rehandshake, timeout_ms) = match &w.advice {
            Some(a) => (a.reconnect.as_deref() == Some("handshake"), a.timeout),
            None => (false, None),
        };
        out.replies.push(Reply {
            kind,
            successful: w.successful.unwrap_or(false),
            client_id: w.client_id,
            rehandshake,
            timeout_ms,
            error: w.error,
            supported: w.supported,
            ack: w.ext.and_then(|e| e.ack),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_events_and_replies() {
        let data = stamp(5, 2, 7, 1, "xx");
        let body = format!(
            r#"[{{"channel":"/a","data":{data}}},{{"channel":"/b","data":"text"}},{{"channel":"/meta/connect","successful":true,"advice":{{"reconnect":"retry","timeout":30000}},"id":"3"}}]"#
        );
        let p = parse(body.as_bytes()).unwrap();
        assert_eq!(p.deliveries.len(), 1);
        assert_eq!(p.deliveries[0].seq, 7);
        assert_eq!(p.deliveries[0].ph, 1);
        assert_eq!(p.other_events, 1);
        let c = p.reply(ReplyKind::Connect).unwrap();
        assert!(c.successful && !c.rehandshake);
        assert_eq!(c.timeout_ms, Some(30000));
        let p = parse(br#"{"channel":"/a","successful":true,"id":"1"}"#).unwrap();
        assert_eq!(p.replies[0].kind, ReplyKind::Publish);
        let p = parse(br#"[{"channel":"/meta/connect","successful":false,"advice":{"reconnect":"handshake"}}]"#).unwrap();
        assert!(p.replies[0].rehandshake);
    }

    #[test]
    fn follows_the_ack_extension() {
        let reply = |body: &str| parse(body.as_bytes()).unwrap().replies.remove(0);
        let mut ack = AckState::default();
        ack.handshake(&reply(
            r#"[{"channel":"/meta/handshake","successful":true}]"#,
        ));
        assert_eq!(ack.outgoing(), None);
        ack.handshake(&reply(
            r#"[{"channel":"/meta/handshake","successful":true,"ext":{"ack":true}}]"#,
        ));
        assert_eq!(ack.outgoing(), Some(0));
        let connect = r#"[{"channel":"/meta/connect","successful":true,"ext":{"ack":5}}]"#;
        assert!(ack.connect(&reply(connect)));
        assert_eq!(ack.outgoing(), Some(5));
        // No number, or an unsuccessful reply: the batch stays.
        assert!(!ack.connect(&reply(
            r#"[{"channel":"/meta/connect","successful":true,"ext":{"ack":"x"}}]"#
        )));
        assert!(!ack.connect(&reply(
            r#"[{"channel":"/meta/connect","successful":false,"ext":{"ack":9}}]"#
        )));
        assert_eq!(ack.outgoing(), Some(5));
        ack.handshake(&reply(
            r#"[{"channel":"/meta/handshake","successful":true,"ext":{"ack":{"enabled":true,"batch":3}}}]"#,
        ));
        assert_eq!(ack.outgoing(), Some(3));
        ack.handshake(&reply(
            r#"[{"channel":"/meta/handshake","successful":true,"ext":{"ack":false}}]"#,
        ));
        assert!(!ack.granted());
        assert!(!ack.connect(&reply(connect)));
    }

    #[test]
    fn builds_json() {
        for s in [
            handshake(1, false),
            handshake(1, true),
            connect("abc", Transport::WebSocket, 2, true, None),
            connect("abc", Transport::LongPolling, 3, false, Some(7)),
            subscribe("abc", "/x/y", 4),
            publish("abc", "/x/y", 5, &stamp(1, 2, 3, 4, "")),
        ] {
            let v: serde_json::Value = serde_json::from_str(&s).unwrap();
            assert!(v.is_array(), "{s}");
        }
    }
}
