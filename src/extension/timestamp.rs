//! CometD's timestamp extension (`timestamp`; TS-2): every message the server sends, replies
//! and broadcasts, gets a top-level `timestamp` field with the time it was sent.
//!
//! The time is in HTTP's date format, in GMT (`Tue, 01 Dec 2026 01:06:49 GMT`), the format
//! the CometD JavaScript client's own `TimeStampExtension` writes and `Date.parse` reads.
//! (CometD's Java server defaults to `Tue Dec 01 01:06:49 GMT 2026` in the server's time
//! zone; a fixed zone keeps servers in different zones comparable.) A broadcast gets one
//! time, set once before it is serialized: all its subscribers see the same.

use std::time::SystemTime;

use super::{Extension, Verdict};
use crate::protocol::{Event, Message, Reply};
use crate::session::ServerSession;

/// The `timestamp` extension. Off by default (`Config::timestamp`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TimestampExtension;

fn now() -> String {
    httpdate::fmt_http_date(SystemTime::now())
}

impl Extension for TimestampExtension {
    fn reply(&self, reply: &mut Reply, _: &Message, _: Option<&ServerSession>) -> Verdict {
        reply.set_timestamp(now());
        Verdict::Pass
    }

    fn broadcast(&self, event: &mut Event, _: Option<&ServerSession>) -> Verdict {
        event.set_timestamp(now());
        Verdict::Pass
    }
}
