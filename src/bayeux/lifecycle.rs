//! What runs beside requests: the sweeper that expires idle sessions, this node's inbox
//! from the cluster, shutdown, and the one way a session ends.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::Bayeux;
use crate::cluster::{ClusterError, Inbox, Interest};
use crate::session::{EndReason, ServerSession, Session};
use crate::traffic::Limit;

impl Bayeux {
    /// Starts what runs beside requests: the sweeper, and this node's inbox from the
    /// cluster. Must be called inside a Tokio runtime.
    pub(crate) fn start(self: &Arc<Self>) {
        tokio::spawn(Arc::clone(self).run_sweeper());
        if let Some(cluster) = &self.cluster {
            let (inbox, mut receiver) = Inbox::new();
            let joined = cluster.join(inbox);
            let core = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(error) = joined.await {
                    tracing::error!(%error, "cannot join the cluster");
                    return;
                }
                while let Some(event) = receiver.recv().await {
                    core.deliver_local(&event);
                }
            });
        }
    }

    /// Starts shutting down: held connects answer (CN-8), streams and the sweeper stop.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Why the node should not take new clients now, if it should not (OBS-2): it is
    /// shutting down, or its cluster is away.
    pub fn unready(&self) -> Option<&'static str> {
        if self.is_shutting_down() {
            Some("shutting down")
        } else if self.cluster.as_ref().is_some_and(|c| !c.is_available()) {
            Some("cluster unavailable")
        } else {
            None
        }
    }

    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Resolves once shutdown has started.
    pub async fn shutting_down(&self) {
        self.shutdown.cancelled().await;
    }

    /// Ends expired sessions (SES-2) and stalled streams' sessions (LIM-4) every
    /// `sweep_period` until shutdown.
    async fn run_sweeper(self: Arc<Self>) {
        let idle = self.config.interval + self.config.max_interval;
        let mut ticks = tokio::time::interval(self.config.sweep_period);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = self.shutdown.cancelled() => return,
            }
            let swept = self.hub.swept(idle, self.config.write_timeout);
            for session in &swept.expired {
                self.end_session(session, EndReason::Expired);
            }
            for session in &swept.stalled {
                self.end_session(session, EndReason::TooSlow);
            }
            if !swept.expired.is_empty() || !swept.stalled.is_empty() {
                let (expired, stalled) = (swept.expired.len(), swept.stalled.len());
                tracing::debug!(expired, stalled, "swept sessions");
            }
        }
    }

    /// Ends a session for `reason`: its held connect wakes, its subscriptions go, and the
    /// listeners and the cluster hear of it. The one way a session ends.
    pub(crate) fn end_session(&self, session: &Arc<Session>, reason: EndReason) {
        let ended = session.end(reason);
        let handle = ServerSession(Arc::clone(session));
        if ended {
            if let Some(limit) = Limit::of_end(reason) {
                self.traffic.hit(limit);
            }
            for listener in &self.hooks.listeners {
                listener.session_removed(&handle, reason);
            }
        }
        let mut interest = Vec::new();
        let removed = self.hub.remove(session, |pattern| {
            if let Some(cluster) = &self.cluster {
                interest.push(cluster.interest(Interest::Removed(pattern.clone())));
            }
        });
        for pattern in &removed {
            for listener in &self.hooks.listeners {
                listener.unsubscribed(&handle, pattern);
            }
        }
        settle(interest);
    }
}

/// Lets cluster calls finish in the background, logging failures: used where nobody waits
/// for an answer (a session ending, a server-side publish).
pub(super) fn settle(pending: Vec<BoxFuture<'static, Result<(), ClusterError>>>) {
    if pending.is_empty() {
        return;
    }
    // A session can end outside the runtime (a server-side session dropped after it
    // stopped): its calls were made, their answers have nobody left to wait for them.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        for call in pending {
            if let Err(error) = call.await {
                tracing::warn!(%error, "cluster call failed");
            }
        }
    });
}
