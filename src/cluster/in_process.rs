//! Nodes of one process joined into a cluster: every node's interest is known to all, and a
//! publish goes straight into the inbox of each other node whose interest matches. For
//! tests and demos of the cluster seam; the Redis engine does the same across machines.

use std::sync::Arc;

use futures_util::future::{self, BoxFuture};
use futures_util::FutureExt;
use parking_lot::Mutex;

use super::{Cluster, ClusterError, Inbox, Interest};
use crate::broker::SubscriptionIndex;
use crate::protocol::FrozenEvent;

/// The shared bus; [`InProcessCluster::node`] makes each node's handle on it.
///
/// ```
/// let cluster = herald::InProcessCluster::default();
/// # async fn run(cluster: herald::InProcessCluster) {
/// let a = herald::Herald::builder().cluster(cluster.node()).build();
/// let b = herald::Herald::builder().cluster(cluster.node()).build();
/// // A publish on `a` now reaches `b`'s subscribers of the same channel.
/// # }
/// ```
#[derive(Clone, Default)]
pub struct InProcessCluster {
    members: Arc<Mutex<Vec<Member>>>,
}

#[derive(Default)]
struct Member {
    inbox: Option<Inbox>,
    /// The patterns this node has subscribers for, as an index with one "subscriber".
    interest: SubscriptionIndex<()>,
    /// How many messages from other nodes were handed to it.
    received: usize,
}

/// One node's handle on the bus.
struct Node {
    members: Arc<Mutex<Vec<Member>>>,
    me: usize,
}

impl InProcessCluster {
    /// A new member of the cluster, for one node's [`crate::Builder::cluster`].
    pub fn node(&self) -> Arc<dyn Cluster> {
        let mut members = self.members.lock();
        members.push(Member::default());
        Arc::new(Node {
            members: Arc::clone(&self.members),
            me: members.len() - 1,
        })
    }

    /// How many messages published elsewhere each node received, in the order the nodes
    /// were made: what interest-based routing saves shows here.
    pub fn received(&self) -> Vec<usize> {
        self.members.lock().iter().map(|m| m.received).collect()
    }
}

fn done() -> BoxFuture<'static, Result<(), ClusterError>> {
    future::ready(Ok(())).boxed()
}

impl Cluster for Node {
    fn join(&self, inbox: Inbox) -> BoxFuture<'static, Result<(), ClusterError>> {
        self.members.lock()[self.me].inbox = Some(inbox);
        done()
    }

    fn publish(&self, event: &FrozenEvent) -> BoxFuture<'static, Result<(), ClusterError>> {
        let mut members = self.members.lock();
        for (n, member) in members.iter_mut().enumerate() {
            let wanted = member
                .interest
                .matching(event.channel())
                .iter()
                .any(|set| !set.is_empty());
            if n == self.me || !wanted {
                continue;
            }
            if let Some(inbox) = &member.inbox {
                if inbox.deliver(event.clone()) {
                    member.received += 1;
                }
            }
        }
        done()
    }

    fn interest(&self, change: Interest) -> BoxFuture<'static, Result<(), ClusterError>> {
        let mut members = self.members.lock();
        let interest = &mut members[self.me].interest;
        match change {
            Interest::Added(pattern) => {
                interest.insert(&pattern, 0, ());
            }
            Interest::Removed(pattern) => {
                interest.remove(&pattern, 0);
            }
        }
        done()
    }
}
