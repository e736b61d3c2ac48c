//! A session as the metrics and the admin page count it: how it is reached now and what it
//! has waiting, read under its lock once per scrape, never on the hot path.

use super::{Session, StreamKind};

/// How a session is reached right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// A WebSocket pushes to it.
    WebSocket,
    /// An EventSource stream pushes to it.
    EventSource,
    /// A long-poll or JSONP poll is held for it.
    Poll,
    /// Nothing at this moment: between two polls, or its client is away.
    Between,
    /// A server-side session, in this process.
    Local,
}

impl Link {
    /// Every link, in the order [`Census::sessions`] counts them.
    pub const ALL: [Link; 5] = [
        Link::WebSocket,
        Link::EventSource,
        Link::Poll,
        Link::Between,
        Link::Local,
    ];

    /// Its name in metrics and on the admin page.
    pub fn name(self) -> &'static str {
        match self {
            Link::WebSocket => "websocket",
            Link::EventSource => "eventsource",
            Link::Poll => "poll",
            Link::Between => "between",
            Link::Local => "local",
        }
    }
}

/// The node's sessions, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// Sessions per [`Link`], in the order of [`Link::ALL`].
    pub sessions: [usize; 5],
    /// Messages waiting in every session's queue.
    pub queued_messages: usize,
    /// Their bytes.
    pub queued_bytes: usize,
    /// The bytes waiting for the session that has the most.
    pub largest_queue_bytes: usize,
}

impl Census {
    /// Adds one session.
    pub(crate) fn count(&mut self, session: &Session) {
        let inner = session.inner.lock();
        let link = match inner.stream {
            _ if session.local => Link::Local,
            Some((_, StreamKind::Duplex)) => Link::WebSocket,
            Some((_, StreamKind::Downstream)) => Link::EventSource,
            None if inner.holder.is_some() => Link::Poll,
            None => Link::Between,
        };
        let (messages, bytes) = (inner.queue.len(), inner.queue.bytes());
        drop(inner);
        self.sessions[link as usize] += 1;
        self.queued_messages += messages;
        self.queued_bytes += bytes;
        self.largest_queue_bytes = self.largest_queue_bytes.max(bytes);
    }

    /// Sessions reached by `link`.
    pub fn by(&self, link: Link) -> usize {
        self.sessions[link as usize]
    }
}
