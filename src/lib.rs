//! herald: a Bayeux server, the protocol of CometD and Faye, so that their clients work
//! against it unchanged.
//!
//! # Layout
//! - [`protocol`]: the wire format: channel names and patterns, messages, replies, advice.
//! - [`error`]: every error, and the one place each becomes a Bayeux error string or an
//!   HTTP status.
//! - [`session`]: one client's session: its state machine and its queue of messages.
//! - [`broker`]: the subscription index and fan-out.
//! - [`engine`]: where sessions and subscriptions live (in memory; Redis later), behind
//!   one narrow interface.
//! - [`bayeux`]: the protocol state machine: meta channels, publishing, held connects.
//! - [`service`]: server-side handlers for `/service/**`.
//! - [`transport`]: long-polling, JSONP, WebSocket and EventSource, translating bytes to
//!   messages and back.
//! - [`config`]: the settings.
//! - [`server`]: the HTTP/1.1 accept loop the binary serves the router with.
//!
//! # Embedding
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let herald = herald::Herald::new(herald::Config::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let stopping = herald.clone();
//! // Or `axum::serve(listener, herald.router())`, at a few KB more per connection.
//! herald::server::serve(listener, herald.router(), async move {
//!     let _ = tokio::signal::ctrl_c().await;
//!     stopping.shutdown();
//! })
//! .await
//! # }
//! ```

pub mod bayeux;
pub mod broker;
pub mod config;
mod demo;
pub mod engine;
pub mod error;
pub mod protocol;
pub mod server;
pub mod service;
pub mod session;
pub mod transport;

use std::sync::Arc;

use axum::routing::{any, get};
use axum::Router;
use serde_json::value::RawValue;

pub use bayeux::Bayeux;
pub use config::{Config, ConnectionType};
pub use engine::{Engine, MemoryEngine};
pub use error::BayeuxError;
pub use service::{ServiceHandler, ServiceRequest, Services};

/// A running herald server: the protocol core, its sweeper, and the routes to reach it.
/// Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct Herald {
    bayeux: Arc<Bayeux>,
    demo: bool,
}

impl Herald {
    /// A server with the in-memory engine, the demo page at `/` and the demo service
    /// `/service/echo`. Must be called inside a Tokio runtime: it starts the sweeper.
    pub fn new(config: Config) -> Self {
        let mut services = Services::default();
        if let Some(echo) = protocol::ChannelName::parse("/service/echo") {
            services.insert(echo, service::echo());
        }
        Self::with_services(config, services, true)
    }

    /// A server with the given `/service` handlers; `demo` adds the demo page at `/`.
    /// Must be called inside a Tokio runtime: it starts the sweeper.
    pub fn with_services(config: Config, services: Services, demo: bool) -> Self {
        let engine = Arc::new(MemoryEngine::new(config.max_queue));
        let bayeux = Arc::new(Bayeux::new(engine, config, services));
        tokio::spawn(Arc::clone(&bayeux).run_sweeper());
        Self { bayeux, demo }
    }

    /// The routes: the Bayeux endpoint at the configured path, `<path>/` and
    /// `<path>/<anything>` (HTTP-1), and the demo page at `/` when enabled.
    pub fn router(&self) -> Router {
        let config = self.bayeux.config();
        let path = config.path.trim_end_matches('/').to_owned();
        let endpoint = any(transport::endpoint).layer(transport::cross_origin::layer(
            config.allowed_origins.as_deref(),
        ));
        let mut router = Router::new()
            .route(&path, endpoint.clone())
            .route(&format!("{path}/"), endpoint.clone())
            .route(&format!("{path}/{{*rest}}"), endpoint);
        if self.demo {
            let page = demo::page(&path);
            router = router.route("/", get(move || async move { page }));
        }
        router.with_state(Arc::clone(&self.bayeux))
    }

    /// Publishes `data` (JSON) to a broadcast channel from the server itself; returns how
    /// many sessions it reached.
    pub fn publish(&self, channel: &str, data: &RawValue) -> Result<usize, BayeuxError> {
        self.bayeux.publish_from_server(channel, data)
    }

    /// How many sessions are live.
    pub fn session_count(&self) -> usize {
        self.bayeux.engine().session_count()
    }

    /// Starts shutting down: held connects answer at once with `reconnect: retry` (CN-8)
    /// and the sweeper stops. Call it before the HTTP server's graceful shutdown waits for
    /// in-flight requests.
    pub fn shutdown(&self) {
        self.bayeux.shutdown();
    }
}
