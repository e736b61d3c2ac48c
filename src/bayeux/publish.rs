//! Publishing (PUB-1 to PUB-6), `/service` requests (SVC-1, SVC-2), and the security checks
//! both share with subscribing (SEC-2 to SEC-4).

use futures_util::future::BoxFuture;

use super::{Bayeux, Inbound};
use crate::cluster::ClusterError;
use crate::protocol::{
    BayeuxError, Body, Channel, ChannelKind, ChannelName, ChannelPattern, Event, FrozenEvent,
    Message, Reply,
};
use crate::request::RequestInfo;
use crate::security::{Operation, DENIED_BY_POLICY};
use crate::service::ServiceRequest;
use crate::session::{EndReason, ServerSession};

/// A publish handed to the cluster, still on its way to the other nodes.
pub(crate) type Forwarding = Option<BoxFuture<'static, Result<(), ClusterError>>>;

/// The error a failed cluster hand-over becomes for the publisher.
fn unforwarded(error: &ClusterError) -> BayeuxError {
    tracing::warn!(%error, "a publish did not reach the other nodes");
    BayeuxError::application(503, ["cluster"], "Not delivered to other nodes")
}

impl Bayeux {
    /// A publish to a broadcast or service channel (PUB-1 to PUB-3, SVC-1, SVC-2, SEC-3).
    pub(super) async fn publish(
        &self,
        message: &Message,
        session: Option<&ServerSession>,
        inbound: Inbound<'_>,
    ) -> Result<Reply, BayeuxError> {
        let sender = if self.config.anonymous_publish && !message.has_client_id() {
            None
        } else {
            Some(Self::live(message, session)?)
        };
        if let (Some(sender), rate @ 1..) = (&sender, self.config.max_publish_rate) {
            if !sender.0.spend_publish(rate) {
                return Err(BayeuxError::PublishRateExceeded(rate));
            }
        }
        let Body::Publish { data } = message.body().map_err(Clone::clone)? else {
            unreachable!("a publish's body is a publish")
        };
        let (Channel::Broadcast(name) | Channel::Service(name)) = message.channel() else {
            unreachable!("an invalid channel fails the body")
        };
        if self.guarded() {
            let pattern = ChannelPattern::from(name.clone());
            self.authorize(
                Operation::Publish,
                sender.as_ref(),
                &pattern,
                message,
                inbound.request,
            )
            .await?;
        }
        let reply = || Reply::ok(message.channel().clone(), message.id().cloned());
        if name.kind() == ChannelKind::Service {
            let request = ServiceRequest {
                channel: name,
                client_id: sender.as_ref().map_or("", ServerSession::id),
                session: sender.as_ref(),
                data: data.as_ref(),
            };
            return Ok(reply().data(self.hooks.services.call(&request).await?));
        }
        let data = match self.hooks.filters.run(name, data, sender.as_ref()).await? {
            Some(rewritten) => rewritten,
            None => data.clone(),
        };
        let (_, forwarding) = self.broadcast(Event::new(name.clone(), data), sender.as_ref())?;
        if let Some(forwarding) = forwarding {
            forwarding.await.map_err(|error| unforwarded(&error))?;
        }
        Ok(reply())
    }

    /// Publishes `data` to a broadcast channel from the server itself, as if a client had;
    /// returns how many of this node's sessions it reached.
    pub fn publish_from_server(
        &self,
        channel: &str,
        data: &serde_json::value::RawValue,
    ) -> Result<usize, BayeuxError> {
        let name = ChannelName::parse(channel)
            .filter(|name| name.kind() == ChannelKind::Broadcast)
            .ok_or_else(|| BayeuxError::InvalidChannel(channel.to_owned()))?;
        let (reached, forwarding) = self.broadcast(Event::new(name, data.to_owned()), None)?;
        super::lifecycle::settle(forwarding.into_iter().collect());
        Ok(reached)
    }

    /// Sends a broadcast on its way: the extensions' broadcast hooks, once; then it is
    /// frozen (serialized once), fanned out to this node's subscribers, and handed to the
    /// cluster, whose hand-over is returned for the caller to await or not.
    pub(crate) fn broadcast(
        &self,
        mut event: Event,
        from: Option<&ServerSession>,
    ) -> Result<(usize, Forwarding), BayeuxError> {
        self.hooks.extensions.broadcast(&mut event, from)?;
        let event = event.freeze();
        let reached = self.deliver_local(&event);
        self.traffic.published(reached);
        for listener in &self.hooks.listeners {
            listener.published(from, &event, reached);
        }
        let forwarding = self.cluster.as_ref().map(|cluster| cluster.publish(&event));
        Ok((reached, forwarding))
    }

    /// Queues a frozen event for this node's subscribers of its channel; sessions whose
    /// queue overflows end (SES-4). Returns how many got it.
    pub(crate) fn deliver_local(&self, event: &FrozenEvent) -> usize {
        let (reached, overflowed) = self.hub.publish(event.channel(), event);
        for session in overflowed {
            tracing::warn!(client_id = session.id(), "queue full, ending session");
            self.end_session(&session, EndReason::Overflowed);
        }
        reached
    }

    /// Whether any security check is configured: without one, none is even prepared.
    fn guarded(&self) -> bool {
        self.hooks.policy.is_some() || !self.hooks.authorizers.is_empty()
    }

    /// The security checks of a subscribe or a publish on `channel`, in CometD's order:
    /// creation when nobody subscribes to it here yet, then the operation itself; the
    /// policy first, then the authorizers.
    pub(super) async fn authorize(
        &self,
        operation: Operation,
        session: Option<&ServerSession>,
        channel: &ChannelPattern,
        message: &Message,
        request: &RequestInfo,
    ) -> Result<(), BayeuxError> {
        if !self.guarded() {
            return Ok(());
        }
        let denied = |reason: String| match operation {
            Operation::Subscribe => BayeuxError::SubscribeDenied(reason),
            _ => BayeuxError::PublishDenied(reason),
        };
        let create_denied = |reason: String| match operation {
            Operation::Subscribe => BayeuxError::CreateDenied(reason),
            _ => BayeuxError::ChannelCreateDenied(reason),
        };
        let policy = self.hooks.policy.as_deref();
        let authorizers = &self.hooks.authorizers;
        if !self.hub.has_subscribers(channel) {
            if let Some(policy) = policy {
                if !policy.can_create(session, channel, message, request).await {
                    return Err(create_denied(DENIED_BY_POLICY.into()));
                }
            }
            authorizers
                .check(Operation::Create, channel, session, message)
                .map_err(create_denied)?;
        }
        if let Some(policy) = policy {
            let allowed = match (operation, session) {
                (Operation::Subscribe, Some(session)) => {
                    policy
                        .can_subscribe(session, channel, message, request)
                        .await
                }
                _ => policy.can_publish(session, channel, message, request).await,
            };
            if !allowed {
                return Err(denied(DENIED_BY_POLICY.into()));
            }
        }
        authorizers
            .check(operation, channel, session, message)
            .map_err(denied)
    }
}
