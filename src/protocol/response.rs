//! A response: every reply and event one request gets, put in MSG-6 order and written as
//! one JSON array by concatenation, each event's JSON copied in as it was frozen.

use bytes::Bytes;

use super::event::FrozenEvent;
use super::reply::Reply;

/// The parts of a response, kept apart so they can be put in MSG-6 order.
#[derive(Debug, Default)]
///
/// The handshake and connect replies are boxed: a response sits in a transport's future
/// while its request is processed, and stays small there.
pub struct Response {
    handshake: Option<Box<Reply>>,
    events: Vec<FrozenEvent>,
    replies: Vec<Reply>,
    connect: Option<Box<Reply>>,
}

impl Response {
    /// Sets the handshake reply, which goes first.
    pub fn set_handshake(&mut self, reply: Reply) {
        self.handshake = Some(Box::new(reply));
    }

    /// Adds a reply to a message other than the handshake and the held connect.
    pub fn push(&mut self, reply: Reply) {
        self.replies.push(reply);
    }

    /// Sets the connect reply, last, and the events delivered with it, before the replies.
    pub fn set_connect(&mut self, events: Vec<FrozenEvent>, reply: Option<Reply>) {
        self.events = events;
        self.connect = reply.map(Box::new);
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.handshake.is_none()
            && self.events.is_empty()
            && self.replies.is_empty()
            && self.connect.is_none()
    }

    /// Whether it holds a successful handshake reply (the transport may then set cookies).
    pub fn has_handshake(&self) -> bool {
        self.handshake
            .as_ref()
            .is_some_and(|reply| reply.is_successful())
    }

    /// The replies, in MSG-6 order.
    pub fn replies(&self) -> impl Iterator<Item = &Reply> {
        self.handshake
            .as_deref()
            .into_iter()
            .chain(&self.replies)
            .chain(self.connect.as_deref())
    }

    /// The replies, in MSG-6 order, to keep.
    pub fn into_replies(self) -> impl Iterator<Item = Reply> {
        let unboxed = |reply: Option<Box<Reply>>| reply.map(|reply| *reply).into_iter();
        unboxed(self.handshake)
            .chain(self.replies)
            .chain(unboxed(self.connect))
    }

    /// The events delivered with the connect.
    pub fn events(&self) -> &[FrozenEvent] {
        &self.events
    }

    /// The response as one JSON array.
    pub fn to_json(&self) -> Bytes {
        let events: usize = self.events.iter().map(|e| e.json().len() + 1).sum();
        let mut out = Vec::with_capacity(events + 160 * (self.replies.len() + 2) + 2);
        out.push(b'[');
        let mut first = true;
        let mut separate = |out: &mut Vec<u8>| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
        };
        if let Some(handshake) = &self.handshake {
            separate(&mut out);
            handshake.write_json(&mut out);
        }
        for event in &self.events {
            separate(&mut out);
            out.extend_from_slice(event.json());
        }
        for reply in self.replies.iter().chain(self.connect.as_deref()) {
            separate(&mut out);
            reply.write_json(&mut out);
        }
        out.push(b']');
        Bytes::from(out)
    }
}

/// Events alone as one JSON array: what a push stream sends.
pub fn events_json(events: &[FrozenEvent]) -> Bytes {
    let mut out = Vec::with_capacity(events.iter().map(|e| e.json().len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(event.json());
    }
    out.push(b']');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Channel, ChannelName, Event, Meta};
    use serde_json::value::RawValue;

    #[test]
    fn msg6_order() {
        let event = Event::new(
            ChannelName::parse("/a").unwrap(),
            RawValue::from_string("1".into()).unwrap(),
        )
        .freeze();
        let mut response = Response::default();
        response.push(Reply::ok(Channel::parse("/b"), None));
        response.set_connect(vec![event.clone()], Some(Reply::ok(Meta::Connect, None)));
        assert_eq!(
            &response.to_json()[..],
            br#"[{"channel":"/a","data":1},{"channel":"/b","successful":true},{"channel":"/meta/connect","successful":true}]"#
        );
        assert_eq!(
            &events_json(&[event.clone(), event])[..],
            br#"[{"channel":"/a","data":1},{"channel":"/a","data":1}]"#
        );
        assert_eq!(&Response::default().to_json()[..], b"[]");
    }
}
