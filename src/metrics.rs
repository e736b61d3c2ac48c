//! What an operator watches (OBS-1, OBS-2): counters and gauges in Prometheus' text format
//! at `/metrics`, through the `prometheus` crate, and `/health` and `/ready` for the
//! orchestrator.
//!
//! The metrics listen where the core already tells listeners and extensions what happens
//! (sessions, subscriptions, publishes, replies), so they add an atomic increment there
//! and nothing per recipient: a publish's deliveries are counted once, by its reach.

use std::sync::Arc;

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::extension::{Extension, Verdict};
use crate::listener::Listener;
use crate::protocol::{BayeuxError, ChannelPattern, FrozenEvent, Message, Reply};
use crate::request::RequestInfo;
use crate::session::{EndReason, ServerSession};

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
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let counter = IntCounter::new(name, help).expect("a valid metric");
    registry
        .register(Box::new(counter.clone()))
        .expect("a unique metric");
    counter
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("a valid metric");
    registry
        .register(Box::new(gauge.clone()))
        .expect("a unique metric");
    gauge
}

fn counters(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let counters = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid metric");
    registry
        .register(Box::new(counters.clone()))
        .expect("a unique metric");
    counters
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
            registry,
        }
    }
}

impl Metrics {
    /// Every metric, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("metrics encode to memory");
        String::from_utf8(text).expect("the text format is UTF-8")
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

    fn published(&self, _: Option<&ServerSession>, _: &FrozenEvent, reached: usize) {
        self.published.inc();
        self.delivered.inc_by(reached as u64);
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
        Some("502") => "502",
        Some("503") => "503",
        Some("504") => "504",
        _ => "other",
    }
}
