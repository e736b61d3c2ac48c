//! herald: a Bayeux server, the protocol of CometD and Faye, so that their clients work
//! against it unchanged.
//!
//! # Layout
//! One way in, one way out:
//!
//! ```text
//!  transport (bytes ⇄ messages)          protocol (typed messages, replies, events)
//!        │  parse_batch                          ▲
//!        ▼                                       │ Response::to_json (once)
//!  Bayeux::process ── extensions (incoming) ── handlers ── security policy
//!        │                                       │
//!        │                    hub: sessions, queues, broker ── cluster (other nodes)
//!        ▼                                       │
//!  held connect / PushStream ◀── outbound door (per-recipient hooks, ack batches)
//! ```
//!
//! - [`protocol`]: the wire format: channel names and patterns, typed messages, replies,
//!   events, advice, and the protocol's errors.
//! - [`session`]: one client's session: its state machine, its queue, and the
//!   [`ServerSession`] handle applications see.
//! - [`broker`]: the subscription index and fan-out.
//! - [`hub`]: this node's sessions and subscriptions.
//! - [`cluster`]: the seam between nodes, and the in-process cluster.
//! - [`bayeux`]: the protocol core: meta channels, publishing, held connects, the outbound
//!   door.
//! - [`extension`], [`security`], [`sign_in`], [`filter`], [`listener`]: what an
//!   application plugs in; [`local`]: server-side sessions; [`service`]: `/service/**`
//!   handlers.
//! - [`app`]: the same hooks set up by the configuration file: sign-in, channel rules,
//!   presence, webhooks, the backend API.
//! - [`transport`]: long-polling, JSONP, WebSocket and EventSource, translating bytes to
//!   messages and back.
//! - [`request`]: the request details that travel with each message.
//! - [`config`]: the settings and the configuration file; [`builder`]: putting a server
//!   together.
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
//!
//! With a security policy, an extension and a listener, see [`Herald::builder`] and the
//! README's "Embedding" section.

pub mod app;
pub mod bayeux;
pub mod broker;
pub mod builder;
pub mod cluster;
pub mod config;
mod demo;
pub mod extension;
pub mod filter;
pub mod hub;
pub mod listener;
pub mod local;
pub mod metrics;
pub mod protocol;
pub mod request;
pub mod security;
pub mod server;
pub mod service;
pub mod session;
pub mod sign_in;
pub mod traffic;
pub mod transport;

use std::sync::Arc;

use axum::routing::{any, get};
use axum::Router;
use serde_json::value::RawValue;

pub use bayeux::Bayeux;
pub use builder::Builder;
pub use cluster::{Cluster, InProcessCluster};
pub use config::{Config, ConnectionType};
pub use extension::Extension;
pub use filter::{Filtered, PublishFilter};
pub use futures_util::future::BoxFuture;
pub use listener::Listener;
pub use local::LocalSession;
pub use protocol::BayeuxError;
pub use request::RequestInfo;
pub use security::{Authorization, Authorizer, Operation, SecurityPolicy};
pub use service::{Service, ServiceAnswer, ServiceRequest, Services};
pub use session::{EndReason, ServerSession};
pub use sign_in::{SignIn, SignInError};

/// A running herald server: the protocol core, its sweeper, and the routes to reach it.
/// Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct Herald {
    core: Arc<Bayeux>,
    demo: bool,
    metrics: Option<Arc<metrics::Metrics>>,
}

impl Herald {
    /// A server with the in-memory engine, the demo page at `/` and the demo service
    /// `/service/echo`. Must be called inside a Tokio runtime: it starts the sweeper.
    pub fn new(config: Config) -> Self {
        let echo = protocol::ChannelName::parse("/service/echo").expect("a valid channel name");
        Self::builder()
            .config(config)
            .service(echo, service::echo)
            .demo(true)
            .build()
    }

    /// A server put together piece by piece: settings, services, extensions, a security
    /// policy, authorizers, listeners, a cluster.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The routes: the Bayeux endpoint at the configured path, `<path>/` and
    /// `<path>/<anything>` (HTTP-1), and the demo page at `/` when enabled.
    pub fn router(&self) -> Router {
        let config = self.core.config();
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
        // OBS-2: alive while the process answers; ready unless shutting down or cut off
        // from its cluster.
        router = router.route("/health", get(|| async { "ok" }));
        let core = Arc::clone(&self.core);
        router = router.route(
            "/ready",
            get(move || {
                let unready = core.unready();
                async move {
                    match unready {
                        None => (http::StatusCode::OK, "ready"),
                        Some(why) => (http::StatusCode::SERVICE_UNAVAILABLE, why),
                    }
                }
            }),
        );
        if let Some(metrics) = &self.metrics {
            let (metrics, core) = (Arc::clone(metrics), Arc::clone(&self.core));
            router = router.route(
                "/metrics",
                get(move || {
                    let text = metrics.render(&core);
                    async move {
                        (
                            [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                            text,
                        )
                    }
                }),
            );
        }
        router.with_state(Arc::clone(&self.core))
    }

    /// Publishes `data` (JSON) to a broadcast channel from the server itself, through the
    /// extensions' broadcast hooks and to every node of a cluster; returns how many of this
    /// node's sessions it reached.
    pub fn publish(&self, channel: &str, data: &RawValue) -> Result<usize, BayeuxError> {
        self.core.publish_from_server(channel, data)
    }

    /// Delivers `data` on `channel` to every session of `user` on this node (all tabs, any
    /// transport), whatever they subscribe to; returns how many it reached.
    pub fn publish_to_user(
        &self,
        user: &str,
        channel: &str,
        data: &RawValue,
    ) -> Result<usize, BayeuxError> {
        self.core.deliver_to_user(user, channel, data)
    }

    /// Ends every session of `user` on this node; each client is told to stop.
    pub fn disconnect_user(&self, user: &str) -> usize {
        self.core.remove_user(user)
    }

    /// Ends one session; `false` if it is not live on this node.
    pub fn disconnect_session(&self, client_id: &str) -> bool {
        self.core.remove_session(client_id)
    }

    /// Every channel or pattern with subscribers on this node and how many, by name.
    pub fn subscription_counts(&self) -> Vec<(String, usize)> {
        self.core.subscription_counts()
    }

    /// A new server-side session, handshaken like a client (see [`LocalSession`]).
    pub async fn local_session(&self) -> Result<LocalSession, BayeuxError> {
        LocalSession::handshake(&self.core).await
    }

    /// The settings it runs with.
    pub fn config(&self) -> &Config {
        self.core.config()
    }

    /// This node's sessions, counted by how they are reached and what they have waiting:
    /// one pass over them, for a scrape or a page, not for a loop.
    pub fn census(&self) -> session::Census {
        self.core.census()
    }

    /// What crossed this node's doors, and the limits hit; give it to
    /// [`server::Options::traffic`] so refused connections are counted too.
    pub fn traffic(&self) -> &Arc<traffic::Traffic> {
        self.core.traffic()
    }

    /// How many sessions this node holds.
    pub fn session_count(&self) -> usize {
        self.core.session_count()
    }

    /// Starts shutting down: held connects answer at once with `reconnect: retry` (CN-8)
    /// and the sweeper stops. Call it before the HTTP server's graceful shutdown waits for
    /// in-flight requests.
    pub fn shutdown(&self) {
        self.core.shutdown();
    }
}
