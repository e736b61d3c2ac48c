//! The cluster seam: how several herald nodes act as one Bayeux server.
//!
//! Each node keeps its own sessions, queues and subscription index (the hub, node-local and
//! synchronous). What crosses nodes is narrow and asynchronous: a message published on one
//! node goes to the nodes that have subscribers for its channel ([`Cluster::publish`]),
//! messages published elsewhere arrive in this node's [`Inbox`], and each node says which
//! channel patterns it has subscribers for ([`Cluster::interest`]), so a message only
//! travels to nodes that want it. No call is made per recipient: a node fans out to its
//! own clients itself.
//!
//! A server without a cluster runs no cluster code at all. [`InProcessCluster`] joins
//! nodes inside one process (tests, demos); the Redis engine implements the same trait.

mod in_process;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use crate::protocol::{ChannelPattern, FrozenEvent};

pub use in_process::InProcessCluster;

/// A change in the channel patterns this node has subscribers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interest {
    /// The pattern got its first subscriber on this node.
    Added(ChannelPattern),
    /// The pattern lost its last subscriber on this node.
    Removed(ChannelPattern),
}

/// A cluster failure, reported to whoever published or subscribed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// The cluster cannot be reached now.
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
}

/// Where messages published on other nodes arrive, to be fanned out to this node's
/// subscribers. Unbounded: fan-out is synchronous and never waits on a client, so the node
/// takes messages as fast as a driver can hand them over.
#[derive(Debug, Clone)]
pub struct Inbox(mpsc::UnboundedSender<FrozenEvent>);

impl Inbox {
    /// A new inbox and the receiving end the node reads.
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<FrozenEvent>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self(sender), receiver)
    }

    /// Hands a message published on another node to this one; `false` once the node has
    /// stopped.
    pub fn deliver(&self, event: FrozenEvent) -> bool {
        self.0.send(event).is_ok()
    }
}

/// What a node needs from the other nodes.
///
/// Calls take effect in the order they are made (each method does its ordering work
/// before returning its future), so a node's publishes reach another node in publish
/// order, and its interest changes are applied in the order they happened; the futures
/// resolve once the cluster has taken the call.
pub trait Cluster: Send + Sync + 'static {
    /// Joins the cluster: from now on messages published on other nodes, on channels this
    /// node has interest in, go to `inbox`. Called once, before any other method.
    fn join(&self, inbox: Inbox) -> BoxFuture<'static, Result<(), ClusterError>>;

    /// Hands a message published on this node to the other nodes whose interest matches
    /// its channel. The message was already delivered to this node's subscribers.
    fn publish(&self, event: &FrozenEvent) -> BoxFuture<'static, Result<(), ClusterError>>;

    /// Records a change in this node's interest.
    fn interest(&self, change: Interest) -> BoxFuture<'static, Result<(), ClusterError>>;

    /// Whether the cluster carries messages now. While it does not, the node keeps serving
    /// its own clients but is not ready (OBS-2), so a load balancer sends new clients to
    /// nodes whose messages reach everyone.
    fn is_available(&self) -> bool {
        true
    }
}
