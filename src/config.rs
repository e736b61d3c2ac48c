//! Server settings, with the defaults the spec names.

use std::time::Duration;

/// A connection type a client may negotiate (HS-1, CN-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionType {
    /// HTTP POST long-polling, same origin.
    LongPolling,
}

impl ConnectionType {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionType::LongPolling => "long-polling",
        }
    }
}

/// Everything that can be set about a herald server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the Bayeux endpoint is mounted (HTTP-1).
    pub path: String,
    /// How long a `/meta/connect` is held (CN-6).
    pub timeout: Duration,
    /// How long clients wait between connects.
    pub interval: Duration,
    /// How long a session lives without a connect, beyond `interval` (SES-2).
    pub max_interval: Duration,
    /// The largest request body accepted (HTTP-5).
    pub max_body_bytes: usize,
    /// The most messages a session may have waiting (SES-4).
    pub max_queue: usize,
    /// Accept publishes without a session (PUB-1), as Faye does.
    pub anonymous_publish: bool,
    /// The connection types offered, in the order they are advertised.
    pub connection_types: Vec<ConnectionType>,
    /// How often the sweeper looks for expired sessions.
    pub sweep_period: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            path: "/cometd".into(),
            timeout: Duration::from_millis(30_000),
            interval: Duration::ZERO,
            max_interval: Duration::from_millis(10_000),
            max_body_bytes: 1024 * 1024,
            max_queue: 10_000,
            anonymous_publish: false,
            connection_types: vec![ConnectionType::LongPolling],
            sweep_period: Duration::from_secs(1),
        }
    }
}
