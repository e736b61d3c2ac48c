//! [`Builder`]: a herald server put together by the embedding program, with its settings,
//! its hooks (services, extensions, security policy, authorizers, listeners) and its engine
//! (this node alone, or a member of a cluster).

use std::sync::Arc;

use crate::bayeux::{Bayeux, Hooks};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::extension::{
    AckExtension, Extension, Extensions, TimestampExtension, TimesyncExtension,
};
use crate::filter::PublishFilter;
use crate::listener::Listener;
use crate::metrics::Metrics;
use crate::protocol::ChannelPattern;
use crate::security::{Authorizer, SecurityPolicy};
use crate::service::Service;
use crate::sign_in::SignIn;
use crate::Herald;

/// Builds a [`Herald`].
///
/// ```no_run
/// # use herald::{Config, Herald};
/// # async fn run() {
/// let herald = Herald::builder()
///     .config(Config::default())
///     .listener(MyPresence::default())
///     .build();
/// # }
/// # #[derive(Default)] struct MyPresence;
/// # impl herald::Listener for MyPresence {}
/// ```
#[derive(Default)]
#[must_use]
pub struct Builder {
    config: Config,
    hooks: Hooks,
    /// The application's extensions, registered after the built-in ones.
    extensions: Extensions,
    cluster: Option<Arc<dyn Cluster>>,
    demo: bool,
    metrics: Option<Arc<Metrics>>,
}

impl Builder {
    /// The settings (default: [`Config::default`]).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Serves the demo chat page at `/`.
    pub fn demo(mut self, demo: bool) -> Self {
        self.demo = demo;
        self
    }

    /// Counts what happens and serves it at `/metrics` (OBS-1).
    pub fn metrics(mut self) -> Self {
        let metrics = Arc::new(Metrics::default());
        self.hooks.listeners.push(Arc::new(Arc::clone(&metrics)));
        self.extensions.push(Arc::new(Arc::clone(&metrics)));
        self.metrics = Some(metrics);
        self
    }

    /// Answers `/service` messages on `channel` (a name, or a pattern such as
    /// `/service/**`) with `service` (SVC-1), replacing an earlier service for the same
    /// name. A function from a [`crate::ServiceRequest`] to an optional answer is a service.
    pub fn service(mut self, channel: impl Into<ChannelPattern>, service: impl Service) -> Self {
        self.hooks
            .services
            .insert(channel.into(), Arc::new(service));
        self
    }

    /// Adds an extension. Incoming hooks run in the order extensions are added, after the
    /// built-in ones (`ack`, `timesync`, `timestamp`, as the config turns them on);
    /// outgoing hooks in reverse order.
    pub fn extension(mut self, extension: impl Extension) -> Self {
        self.extensions.push(Arc::new(extension));
        self
    }

    /// Signs clients in at handshake, before the security policy sees them (SIGN-1).
    pub fn sign_in(mut self, sign_in: impl SignIn) -> Self {
        self.hooks.sign_in = Some(Arc::new(sign_in));
        self
    }

    /// Offers publishes on the channels `pattern` covers to `filter` before they are
    /// broadcast (FLT-1); filters run in the order they are added.
    pub fn publish_filter(mut self, pattern: ChannelPattern, filter: impl PublishFilter) -> Self {
        self.hooks.filters.push(pattern, Arc::new(filter));
        self
    }

    /// Sets the security policy (default: everything the protocol allows is allowed).
    pub fn security_policy(mut self, policy: impl SecurityPolicy) -> Self {
        self.hooks.policy = Some(Arc::new(policy));
        self
    }

    /// Adds an authorizer for the channels `pattern` covers (SEC-4).
    pub fn authorizer(mut self, pattern: ChannelPattern, authorizer: impl Authorizer) -> Self {
        self.hooks.authorizers.push(pattern, Arc::new(authorizer));
        self
    }

    /// Adds a listener.
    pub fn listener(mut self, listener: impl Listener) -> Self {
        self.hooks.listeners.push(Arc::new(listener));
        self
    }

    /// Makes this server a node of `cluster` (default: a single node). See
    /// [`crate::cluster`].
    pub fn cluster(mut self, cluster: Arc<dyn Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// The server. Must be called inside a Tokio runtime: it starts the sweeper and, in a
    /// cluster, this node's inbox.
    pub fn build(self) -> Herald {
        let Builder {
            config,
            mut hooks,
            extensions,
            cluster,
            demo,
            metrics,
        } = self;
        let mut all = Extensions::default();
        if config.ack {
            all.push(Arc::new(AckExtension));
        }
        if config.timesync {
            all.push(Arc::new(TimesyncExtension));
        }
        if config.timestamp {
            all.push(Arc::new(TimestampExtension));
        }
        all.append(extensions);
        hooks.extensions = all;
        let core = Arc::new(Bayeux::new(config, hooks, cluster));
        core.start();
        Herald {
            core,
            demo,
            metrics,
        }
    }
}
