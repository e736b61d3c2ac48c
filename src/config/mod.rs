//! Server settings, with the defaults the spec names.

pub mod file;

use std::time::Duration;

/// A connection type a client may negotiate (HS-1, CN-1, TR-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionType {
    /// WebSocket: JSON arrays in text frames both ways.
    WebSocket,
    /// HTTP POST long-polling, same origin.
    LongPolling,
    /// HTTP POST long-polling from another origin (Faye's name for it), with CORS.
    CrossOriginLongPolling,
    /// JSONP: HTTP GET with the messages in the query, answered as a script.
    CallbackPolling,
    /// EventSource (Faye): a server-sent event stream down, HTTP POST up.
    EventSource,
}

impl ConnectionType {
    /// Every type herald can offer, in the order they are advertised.
    pub const ALL: [ConnectionType; 5] = [
        ConnectionType::WebSocket,
        ConnectionType::LongPolling,
        ConnectionType::CrossOriginLongPolling,
        ConnectionType::CallbackPolling,
        ConnectionType::EventSource,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionType::WebSocket => "websocket",
            ConnectionType::LongPolling => "long-polling",
            ConnectionType::CrossOriginLongPolling => "cross-origin-long-polling",
            ConnectionType::CallbackPolling => "callback-polling",
            ConnectionType::EventSource => "eventsource",
        }
    }

    /// The type with this wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
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
    /// How long a WebSocket may go without taking a frame herald writes before its session
    /// is cut off (LIM-4).
    pub write_timeout: Duration,
    /// How long a request's body may take to arrive (LIM-2).
    pub body_timeout: Duration,
    /// How long a connection may take to send a request's headers, counted from when it
    /// opens or from its previous answer: the header read timeout and the keep-alive idle
    /// timeout in one (LIM-1).
    pub idle_timeout: Duration,
    /// The most messages a session may have waiting (SES-4).
    pub max_queue: usize,
    /// Publishes per second one session may make, 0 for no limit (LIM-12).
    pub max_publish_rate: u32,
    /// The most messages one request or WebSocket frame may carry (LIM-11).
    pub max_batch: usize,
    /// The most bytes of messages a session may have waiting (LIM-8).
    pub max_queue_bytes: usize,
    /// The most subscriptions one session may hold (LIM-6).
    pub max_subscriptions: usize,
    /// The most sessions this node holds (LIM-7).
    pub max_sessions: usize,
    /// Handshakes per second from one remote address, 0 for no limit (LIM-13).
    pub max_handshake_rate: u32,
    /// Binds each session to the browser cookie of its handshake (BIND-1).
    pub bind_sessions: bool,
    /// Handshakes per second past which clients sent back to the handshake are told to
    /// come back spread out, 0 for never (STORM-1).
    pub handshake_surge: u32,
    /// The longest a storm's client is told to wait (STORM-1).
    pub surge_spread: Duration,
    /// Accept publishes without a session (PUB-1), as Faye does.
    pub anonymous_publish: bool,
    /// The connection types offered, in the order they are advertised.
    pub connection_types: Vec<ConnectionType>,
    /// How often the sweeper looks for expired sessions.
    pub sweep_period: Duration,
    /// Origins allowed to call from another origin (CORS); `None` reflects any origin,
    /// with credentials, as CometD and Faye do (TR-5).
    pub allowed_origins: Option<Vec<String>>,
    /// How many long-polls one browser (one `BAYEUX_BROWSER` cookie) may have held at once
    /// (TR-8). An HTTP/1.1 browser opens 6 connections per host and each client needs a
    /// second one to publish while its poll is held: 4 leaves room for that.
    pub max_polls_per_browser: usize,
    /// How long the client of a browser over its poll limit waits between polls.
    pub multi_session_interval: Duration,
    /// How often an idle push stream (EventSource) sends a keep-alive comment.
    pub keep_alive: Duration,
    /// The `ack` extension: reliable, ordered delivery for clients that ask (ACK-1).
    pub ack: bool,
    /// The `timesync` extension: clock offset and lag for clients that ask (TS-1).
    pub timesync: bool,
    /// The `timestamp` extension: a `timestamp` on every message sent (TS-2).
    pub timestamp: bool,
}

impl Config {
    /// The defaults, overridden by the file's top-level keys and `[extensions]` (flags and
    /// environment variables were laid over those already, see `herald`'s `main`).
    pub fn from_file(file: &file::ConfigFile) -> Self {
        let defaults = Config::default();
        let millis = |value: Option<u64>, default| value.map_or(default, Duration::from_millis);
        Self {
            path: file.path.clone().unwrap_or(defaults.path),
            timeout: millis(file.timeout, defaults.timeout),
            interval: millis(file.interval, defaults.interval),
            max_interval: millis(file.max_interval, defaults.max_interval),
            max_body_bytes: file.max_body.unwrap_or(defaults.max_body_bytes),
            body_timeout: millis(file.body_timeout, defaults.body_timeout),
            write_timeout: millis(file.write_timeout, defaults.write_timeout),
            idle_timeout: millis(file.idle_timeout, defaults.idle_timeout),
            max_queue: file.max_queue.unwrap_or(defaults.max_queue),
            max_queue_bytes: file.max_queue_bytes.unwrap_or(defaults.max_queue_bytes),
            max_batch: file.max_batch.unwrap_or(defaults.max_batch),
            max_publish_rate: file.max_publish_rate.unwrap_or(defaults.max_publish_rate),
            max_subscriptions: file.max_subscriptions.unwrap_or(defaults.max_subscriptions),
            max_sessions: file.max_sessions.unwrap_or(defaults.max_sessions),
            max_handshake_rate: file
                .max_handshake_rate
                .unwrap_or(defaults.max_handshake_rate),
            handshake_surge: file.handshake_surge.unwrap_or(defaults.handshake_surge),
            bind_sessions: file.bind_sessions.unwrap_or(defaults.bind_sessions),
            surge_spread: millis(file.surge_spread, defaults.surge_spread),
            anonymous_publish: file.anonymous_publish.unwrap_or(defaults.anonymous_publish),
            connection_types: file.transports.clone().unwrap_or(defaults.connection_types),
            allowed_origins: file.allowed_origins.clone(),
            max_polls_per_browser: file
                .max_polls_per_browser
                .unwrap_or(defaults.max_polls_per_browser),
            ack: file.extensions.ack.unwrap_or(defaults.ack),
            timesync: file.extensions.timesync.unwrap_or(defaults.timesync),
            timestamp: file.extensions.timestamp.unwrap_or(defaults.timestamp),
            ..defaults
        }
    }
}

/// A transport's wire name in the configuration file; an unknown one is an error at its
/// place in the file.
impl<'de> serde::Deserialize<'de> for ConnectionType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ConnectionType::from_name(&name).ok_or_else(|| {
            let known: Vec<_> = ConnectionType::ALL.iter().map(|t| t.as_str()).collect();
            serde::de::Error::custom(format!("unknown transport; known: {}", known.join(", ")))
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            path: "/cometd".into(),
            timeout: Duration::from_millis(30_000),
            interval: Duration::ZERO,
            max_interval: Duration::from_millis(10_000),
            max_body_bytes: 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            max_queue: 10_000,
            max_queue_bytes: 16 * 1024 * 1024,
            max_batch: 1_000,
            max_publish_rate: 1_000,
            max_subscriptions: 1_000,
            max_sessions: 50_000,
            max_handshake_rate: 100,
            handshake_surge: 2_000,
            bind_sessions: true,
            surge_spread: Duration::from_secs(5),
            anonymous_publish: false,
            connection_types: ConnectionType::ALL.to_vec(),
            sweep_period: Duration::from_secs(1),
            allowed_origins: None,
            max_polls_per_browser: 4,
            multi_session_interval: Duration::from_millis(2_000),
            keep_alive: Duration::from_secs(15),
            ack: true,
            timesync: true,
            timestamp: false,
        }
    }
}
