//! CometD's time synchronization extension (`timesync`; TS-1): lets the client's
//! `TimeSyncExtension` estimate its clock's offset from the server's and the network lag.
//!
//! A meta message carrying `ext.timesync: {tc, l, o}` (the client's time, and its current
//! lag and offset estimates) gets `ext.timesync: {tc, ts, p, a}` in its reply: `ts` is when
//! the server received it, `p` how long the server took to answer (a held connect's hold
//! included), and `a` how far the client's own estimate is off. As in CometD, a client whose
//! estimate is already within 25 ms gets nothing, so it keeps what it has.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{Extension, Incoming, Verdict};
use crate::protocol::{Message, Reply};
use crate::session::ServerSession;

/// Estimates within this many ms of the truth are left alone.
const ACCURACY_TARGET: i64 = 25;

/// The `timesync` extension. Registered by default (`Config::timesync`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TimesyncExtension;

/// Wall-clock milliseconds: the client compares them with its own clock.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn timesync(message: &Message) -> Option<&serde_json::Map<String, Value>> {
    message.ext()?.get("timesync")?.as_object()
}

impl Extension for TimesyncExtension {
    fn incoming(&self, message: &mut Message, _: &Incoming<'_>) -> Verdict {
        if message.channel().meta().is_some() {
            if let Some(Value::Object(sync)) = message.ext_mut().get_mut("timesync") {
                sync.insert("ts".into(), now().into());
            }
        }
        Verdict::Pass
    }

    fn reply(&self, reply: &mut Reply, request: &Message, _: Option<&ServerSession>) -> Verdict {
        let Some(sync) = timesync(request).filter(|_| request.channel().meta().is_some()) else {
            return Verdict::Pass;
        };
        let field = |name| sync.get(name).and_then(Value::as_i64);
        let (Some(tc), Some(ts)) = (field("tc"), field("ts")) else {
            return Verdict::Pass;
        };
        let p = now() - ts;
        let answer = match (field("l"), field("o")) {
            (Some(l), Some(o)) => {
                let a = tc + o + l - ts;
                if l != 0 && a.abs() < ACCURACY_TARGET {
                    return Verdict::Pass;
                }
                json!({ "tc": tc, "ts": ts, "p": p, "a": a })
            }
            _ => json!({ "tc": tc, "ts": ts, "p": p }),
        };
        reply.ext_mut().insert("timesync".into(), answer);
        Verdict::Pass
    }
}
