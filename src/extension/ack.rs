//! CometD's acknowledged-messages extension (`ack`; ACK-1 to ACK-4): reliable, ordered
//! delivery across dropped connections, wire-compatible with the `AckExtension` of the
//! CometD JavaScript and Java clients.
//!
//! A client that handshakes with `ext.ack: true` gets `ext.ack: true` back and its session
//! keeps messages until acknowledged, delivered only with connect replies. Each such reply
//! carries the batch number of what it delivers (`ext.ack: n`); the client's next connect
//! sends back the last number it received, and the server drops what that covers and sends
//! the rest again, in order (see [`crate::session`]'s queue).

use serde_json::Value;

use super::{Extension, Incoming, Verdict};
use crate::protocol::{Message, Meta, Reply};
use crate::session::ServerSession;

/// The `ack` extension. Registered by default (`Config::ack`).
#[derive(Debug, Default, Clone, Copy)]
pub struct AckExtension;

fn ack_field(message: &Message) -> Option<&Value> {
    message.ext()?.get("ack")
}

impl Extension for AckExtension {
    fn incoming(&self, message: &mut Message, from: &Incoming<'_>) -> Verdict {
        let Some(session) = from.session else {
            return Verdict::Pass;
        };
        match message.channel().meta() {
            // Only a JSON `true` asks for it, as in CometD.
            Some(Meta::Handshake) if ack_field(message) == Some(&Value::Bool(true)) => {
                session.enable_acknowledged_delivery();
            }
            Some(Meta::Connect) if session.is_acknowledged_delivery() => {
                // The client's first connect sends 0; anything negative acknowledges nothing.
                if let Some(batch) = ack_field(message).and_then(Value::as_i64) {
                    session.acknowledge(u64::try_from(batch).unwrap_or(0));
                }
            }
            _ => {}
        }
        Verdict::Pass
    }

    fn reply(
        &self,
        reply: &mut Reply,
        request: &Message,
        session: Option<&ServerSession>,
    ) -> Verdict {
        if !session.is_some_and(ServerSession::is_acknowledged_delivery) {
            return Verdict::Pass;
        }
        match request.channel().meta() {
            Some(Meta::Handshake) if reply.is_successful() => {
                reply.ext_mut().insert("ack".into(), Value::Bool(true));
            }
            // Only a reply that took from the queue closes a batch: one superseded or
            // failed carries no number, so the client never acknowledges what it lost.
            Some(Meta::Connect) => {
                if let Some(batch) = reply.delivered_batch() {
                    reply.ext_mut().insert("ack".into(), batch.into());
                }
            }
            _ => {}
        }
        Verdict::Pass
    }
}
