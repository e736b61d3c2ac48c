//! What crossed the node's doors and which limits were hit: plain counters the transports,
//! the server and the core bump (one relaxed atomic add per request or frame, never per
//! recipient), read by the metrics and the admin page when they are looked at.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::BayeuxError;
use crate::session::EndReason;

/// A limit of spec/limits.md, as counted when hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// LIM-9: a connection answered 503.
    Connections,
    /// LIM-3: a body over `max_body`.
    Body,
    /// LIM-2: a body that did not arrive in time.
    BodyTimeout,
    /// LIM-11: more messages than `max_batch` in one request or frame.
    Batch,
    /// LIM-5: a WebSocket closed for its pings.
    Pings,
    /// LIM-13: a handshake over its address's rate.
    HandshakeRate,
    /// LIM-7: a handshake to a full node.
    Sessions,
    /// LIM-6: a subscribe past `max_subscriptions`.
    Subscriptions,
    /// LIM-12: a publish over its session's rate.
    PublishRate,
    /// LIM-10: `data` nested too deeply.
    Depth,
    /// SES-4, LIM-8: a session ended because its queue was full.
    Queue,
    /// LIM-4: a session cut off because its client stopped reading.
    SlowConsumer,
}

impl Limit {
    /// Every limit, in the order [`Traffic::limits`] reports them.
    pub const ALL: [Limit; 12] = [
        Limit::Connections,
        Limit::Body,
        Limit::BodyTimeout,
        Limit::Batch,
        Limit::Pings,
        Limit::HandshakeRate,
        Limit::Sessions,
        Limit::Subscriptions,
        Limit::PublishRate,
        Limit::Depth,
        Limit::Queue,
        Limit::SlowConsumer,
    ];

    /// Its name in metrics and on the admin page.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Connections => "max_connections",
            Limit::Body => "max_body",
            Limit::BodyTimeout => "body_timeout",
            Limit::Batch => "max_batch",
            Limit::Pings => "pings",
            Limit::HandshakeRate => "max_handshake_rate",
            Limit::Sessions => "max_sessions",
            Limit::Subscriptions => "max_subscriptions",
            Limit::PublishRate => "max_publish_rate",
            Limit::Depth => "data_depth",
            Limit::Queue => "max_queue",
            Limit::SlowConsumer => "write_timeout",
        }
    }

    /// The limit a Bayeux error reports, if it is one.
    pub(crate) fn of_error(error: &BayeuxError) -> Option<Limit> {
        Some(match error {
            BayeuxError::HandshakeRateExceeded(_) => Limit::HandshakeRate,
            BayeuxError::ServerFull => Limit::Sessions,
            BayeuxError::TooManySubscriptions(_) => Limit::Subscriptions,
            BayeuxError::PublishRateExceeded(_) => Limit::PublishRate,
            BayeuxError::TooDeep(_) => Limit::Depth,
            _ => return None,
        })
    }

    /// The limit a session's end reports, if it is one.
    pub(crate) fn of_end(reason: EndReason) -> Option<Limit> {
        match reason {
            EndReason::Overflowed => Some(Limit::Queue),
            EndReason::TooSlow => Some(Limit::SlowConsumer),
            _ => None,
        }
    }
}

/// The node's traffic counters, since it started.
#[derive(Debug, Default)]
pub struct Traffic {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    messages_in: AtomicU64,
    published: AtomicU64,
    delivered: AtomicU64,
    limits: [AtomicU64; Limit::ALL.len()],
}

impl Traffic {
    /// A request body or frame of `bytes` carrying `messages` arrived.
    pub fn received(&self, bytes: usize, messages: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.messages_in
            .fetch_add(messages as u64, Ordering::Relaxed);
    }

    /// A response, frame or event of `bytes` went out.
    pub fn sent(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A broadcast was published and queued for `reached` sessions of this node.
    pub fn published(&self, reached: usize) {
        self.published.fetch_add(1, Ordering::Relaxed);
        self.delivered.fetch_add(reached as u64, Ordering::Relaxed);
    }

    /// `limit` was hit once.
    pub fn hit(&self, limit: Limit) {
        self.limits[limit as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes received: request bodies and WebSocket frames.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// Bytes sent: response bodies, WebSocket frames and EventSource events.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    /// Messages received from clients.
    pub fn messages_in(&self) -> u64 {
        self.messages_in.load(Ordering::Relaxed)
    }

    /// Broadcasts published on this node.
    pub fn published_count(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Broadcast deliveries queued for this node's sessions.
    pub fn delivered_count(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// How often each limit was hit, in the order of [`Limit::ALL`].
    pub fn limits(&self) -> impl Iterator<Item = (Limit, u64)> + '_ {
        Limit::ALL
            .into_iter()
            .map(|limit| (limit, self.limits[limit as usize].load(Ordering::Relaxed)))
    }
}
