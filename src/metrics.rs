//! What an operator watches (OBS-1, OBS-2): counters and gauges in Prometheus' text format
//! at `/metrics`, through the `prometheus` crate, and `/health` and `/ready` for the
//! orchestrator.
//!
//! Session counts and errors are counted where the core already tells listeners and
//! extensions (sessions, subscriptions, replies); everything else (publishes, deliveries,
//! bytes, limits, queues, links) is read from the core's own counters and census when
//! scraped. Nothing runs per recipient: a publish's deliveries are counted once, by its
//! reach.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus::{
    core::Collector, Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::bayeux::Bayeux;

use crate::extension::{Extension, Verdict};
use crate::listener::Listener;
use crate::protocol::{BayeuxError, ChannelPattern, Message, Reply};
use crate::request::RequestInfo;
use crate::session::{EndReason, Link, ServerSession};

/// herald's metrics, registered in their own registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sessions: IntGauge,
    handshakes: IntCounter,
    ended: IntCounterVec,
    subscriptions: IntGauge,
    published: IntCounter,
    delivered: IntCounter,
    errors: IntCounterVec,
    /// Read from the core when scraped.
    scraped: Scraped,
}

/// What is read from the core's census and traffic counters at each scrape, rather than
/// counted here: a session's link and queue change on the hot path, where nothing may wait
/// for the metrics.
#[derive(Debug)]
struct Scraped {
    links: IntGaugeVec,
    queued_messages: IntGauge,
    queued_bytes: IntGauge,
    largest_queue_bytes: IntGauge,
    bytes_in: IntCounter,
    bytes_out: IntCounter,
    messages_in: IntCounter,
    limits: IntCounterVec,
    /// Counters only move forward by what changed since the last scrape; two scrapes at
    /// once must not both add it.
    lock: Mutex<()>,
}

fn register<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("a unique metric");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        registry,
        IntCounter::new(name, help).expect("a valid metric"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(registry, IntGauge::new(name, help).expect("a valid metric"))
}

fn counters(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let counters = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid metric");
    register(registry, counters)
}

fn gauges(registry: &Registry, name: &str, help: &str, label: &str) -> IntGaugeVec {
    let gauges = IntGaugeVec::new(Opts::new(name, help), &[label]).expect("a valid metric");
    register(registry, gauges)
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let r = &registry;
        Self {
            sessions: gauge(r, "herald_sessions", "Sessions this node holds."),
            handshakes: counter(r, "herald_handshakes_total", "Successful handshakes."),
            ended: counters(
                r,
                "herald_sessions_ended_total",
                "Sessions ended, by reason.",
                "reason",
            ),
            subscriptions: gauge(r, "herald_subscriptions", "Subscriptions held by sessions."),
            published: counter(
                r,
                "herald_published_total",
                "Broadcasts published on this node.",
            ),
            delivered: counter(
                r,
                "herald_delivered_total",
                "Broadcast deliveries queued for this node's sessions.",
            ),
            errors: counters(
                r,
                "herald_errors_total",
                "Failed replies, by Bayeux error code (403, 402, …).",
                "code",
            ),
            scraped: Scraped {
                links: gauges(
                    r,
                    "herald_sessions_by_link",
                    "Sessions by how they are reached now: websocket, eventsource, poll (a long-poll or JSONP poll held), between (between polls, or away), local.",
                    "link",
                ),
                queued_messages: gauge(r, "herald_queued_messages", "Messages waiting in sessions' queues."),
                queued_bytes: gauge(r, "herald_queued_bytes", "Bytes waiting in sessions' queues."),
                largest_queue_bytes: gauge(
                    r,
                    "herald_largest_queue_bytes",
                    "Bytes waiting for the session that has the most (max_queue_bytes ends it).",
                ),
                bytes_in: counter(r, "herald_received_bytes_total", "Bytes of request bodies and WebSocket frames received."),
                bytes_out: counter(r, "herald_sent_bytes_total", "Bytes of responses, WebSocket frames and EventSource events sent."),
                messages_in: counter(r, "herald_received_messages_total", "Bayeux messages received from clients."),
                limits: counters(r, "herald_limits_hit_total", "Refusals and cut-offs by the limit that caused them (spec/limits.md).", "limit"),
                lock: Mutex::new(()),
            },
            registry,
        }
    }
}

impl Metrics {
    /// Every metric, in Prometheus' text format, the core's census and counters read now.
    pub fn render(&self, core: &Bayeux) -> String {
        self.scrape(core);
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("metrics encode to memory");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

impl Metrics {
    fn scrape(&self, core: &Bayeux) {
        let scraped = &self.scraped;
        let census = core.census();
        for link in Link::ALL {
            let sessions = census.by(link) as i64;
            scraped
                .links
                .with_label_values(&[link.name()])
                .set(sessions);
        }
        scraped.queued_messages.set(census.queued_messages as i64);
        scraped.queued_bytes.set(census.queued_bytes as i64);
        let largest = census.largest_queue_bytes as i64;
        scraped.largest_queue_bytes.set(largest);
        let traffic = core.traffic();
        let _one_at_a_time = scraped.lock.lock();
        let advance =
            |counter: &IntCounter, to: u64| counter.inc_by(to.saturating_sub(counter.get()));
        advance(&scraped.bytes_in, traffic.bytes_in());
        advance(&scraped.bytes_out, traffic.bytes_out());
        advance(&scraped.messages_in, traffic.messages_in());
        advance(&self.published, traffic.published_count());
        advance(&self.delivered, traffic.delivered_count());
        for (limit, hits) in traffic.limits() {
            advance(&scraped.limits.with_label_values(&[limit.name()]), hits);
        }
    }
}

fn reason(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Disconnected => "disconnected",
        EndReason::Expired => "expired",
        EndReason::Overflowed => "overflowed",
        EndReason::Removed => "removed",
        EndReason::TooSlow => "too_slow",
    }
}

/// Shared with the routes that render it.
impl Listener for Arc<Metrics> {
    fn session_added(&self, _: &ServerSession, _: &RequestInfo) {
        self.handshakes.inc();
        self.sessions.inc();
    }

    fn session_removed(&self, _: &ServerSession, why: EndReason) {
        self.sessions.dec();
        self.ended.with_label_values(&[reason(why)]).inc();
    }

    fn subscribed(&self, _: &ServerSession, _: &ChannelPattern) {
        self.subscriptions.inc();
    }

    fn unsubscribed(&self, _: &ServerSession, _: &ChannelPattern) {
        self.subscriptions.dec();
    }
}

/// Counts failed replies by their error's code: the first three digits of its string.
impl Extension for Arc<Metrics> {
    fn reply(&self, reply: &mut Reply, _: &Message, _: Option<&ServerSession>) -> Verdict {
        if let Some(error) = reply.error() {
            self.errors.with_label_values(&[code(error)]).inc();
        }
        Verdict::Pass
    }
}

fn code(error: &BayeuxError) -> &'static str {
    // The codes herald's errors use; an application's own code is counted as such.
    match error.to_string().get(..3) {
        Some("400") => "400",
        Some("401") => "401",
        Some("402") => "402",
        Some("403") => "403",
        Some("404") => "404",
        Some("405") => "405",
        Some("406") => "406",
        Some("409") => "409",
        Some("413") => "413",
        Some("429") => "429",
        Some("502") => "502",
        Some("503") => "503",
        Some("504") => "504",
        _ => "other",
    }
}
