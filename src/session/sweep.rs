//! What the sweeper looks for in a session, once a sweep period: a session nobody has
//! connected for (SES-2), and a push stream whose client stopped reading (LIM-4 for an
//! EventSource). The hot path pays one counter for the second: the sweeper compares it
//! between its passes.

use std::time::Duration;

use tokio::time::Instant;

use super::{Session, StreamKind};

/// How often the attached stream took messages, and since when the sweeper has seen it
/// take none while messages wait.
#[derive(Debug, Default)]
pub(super) struct StreamWatch {
    takes: u64,
    stalled: Option<(u64, Instant)>,
}

impl StreamWatch {
    pub(super) fn took(&mut self) {
        self.takes = self.takes.wrapping_add(1);
    }
}

impl Session {
    /// Whether the session has gone longer than `idle` with neither a held connect nor an
    /// attached stream (SES-2).
    pub fn is_expired(&self, now: Instant, idle: Duration) -> bool {
        let inner = self.inner.lock();
        inner.holder.is_none()
            && inner.stream.is_none()
            && now.saturating_duration_since(inner.last_seen) > idle
    }

    /// Whether a client's EventSource stream has left messages untaken for longer than
    /// `limit`. Such a stream is pulled by the HTTP stack only as fast as the socket takes
    /// what was written; a client that stopped reading stops the pulls, and its messages
    /// would wait until `max_queue_bytes` (LIM-8). A WebSocket's writer watches its own
    /// writes; a server-side session has no client to stall.
    pub fn is_stalled(&self, now: Instant, limit: Duration) -> bool {
        let mut inner = self.inner.lock();
        let streaming = !self.local && matches!(inner.stream, Some((_, StreamKind::Downstream)));
        if !streaming || !inner.queue.has_unsent() {
            inner.stream_watch.stalled = None;
            return false;
        }
        let takes = inner.stream_watch.takes;
        match inner.stream_watch.stalled {
            Some((seen, since)) if seen == takes => now.saturating_duration_since(since) > limit,
            _ => {
                inner.stream_watch.stalled = Some((takes, now));
                false
            }
        }
    }
}
