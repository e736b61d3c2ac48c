//! `/meta/handshake`, `/meta/subscribe`, `/meta/unsubscribe` and `/meta/disconnect`.

use std::sync::Arc;

use super::lifecycle::settle;
use super::{millis, Bayeux, Connection, Inbound};
use crate::cluster::Interest;
use crate::extension::Incoming;
use crate::protocol::{Advice, BayeuxError, Body, ChannelKind, Message, Meta, Reconnect, Reply};
use crate::security::Operation;
use crate::session::{EndReason, ServerSession};

impl Bayeux {
    /// A handshake (HS-1 to HS-4, SEC-1): the session is made first, so the incoming hooks
    /// and the security policy see it and may set its attributes, and becomes known only
    /// once everything allowed it. Every failed handshake carries advice: `handshake`, or
    /// `none` when the policy refused (a client without credentials stops).
    pub(super) async fn handshake(
        self: &Arc<Self>,
        message: &mut Message,
        inbound: Inbound<'_>,
    ) -> (Reply, Option<Box<str>>) {
        self.admission.count_handshake();
        let session = ServerSession(
            self.hub
                .new_session(inbound.connection == Connection::Local),
        );
        let from = Incoming {
            session: Some(&session),
            request: inbound.request,
        };
        let accepted = match self.hooks.extensions.incoming(message, &from) {
            Ok(()) => self.accept(message, &session, inbound).await,
            Err(error) => Err(error),
        };
        let mut new_browser = None;
        let mut reply = match accepted {
            Ok(reply) => {
                new_browser = self.bind(&session, inbound);
                reply
            }
            Err(error @ BayeuxError::HandshakeRateExceeded(_)) => {
                let mut reply = super::failed(message, error);
                reply.delay(self.admission.retry_after_refusal());
                reply
            }
            Err(error) => {
                let advice = error.advice().unwrap_or(Advice::HANDSHAKE);
                super::failed(message, error).advice(advice)
            }
        };
        self.pace(&mut reply);
        self.count_limit(&reply);
        // A handshake reply cannot be dropped: the client would wait for it forever.
        let _ = self
            .hooks
            .extensions
            .reply(&mut reply, message, Some(&session));
        (reply, new_browser)
    }

    async fn accept(
        &self,
        message: &Message,
        session: &ServerSession,
        inbound: Inbound<'_>,
    ) -> Result<Reply, BayeuxError> {
        let Body::Handshake {
            supported_connection_types: types,
        } = message.body().map_err(Clone::clone)?
        else {
            unreachable!("a handshake's body is a handshake")
        };
        if !types.iter().any(|t| self.offers_name(t)) {
            return Err(BayeuxError::UnsupportedConnectionType(types.clone()));
        }
        // Checked before sign-in, so a full node does not load the sign-in backend (LIM-7).
        if self.hub.session_count() >= self.config.max_sessions {
            return Err(BayeuxError::ServerFull);
        }
        if !self.admission.admit(inbound.request) {
            return Err(BayeuxError::HandshakeRateExceeded(
                self.config.max_handshake_rate,
            ));
        }
        if let Some(sign_in) = &self.hooks.sign_in {
            sign_in
                .sign_in(session, message, inbound.request)
                .await
                .map_err(BayeuxError::SignIn)?;
        }
        if let Some(policy) = &self.hooks.policy {
            if !policy
                .can_handshake(session, message, inbound.request)
                .await
            {
                return Err(BayeuxError::HandshakeDenied);
            }
        }
        self.hub.add(&session.0);
        for listener in &self.hooks.listeners {
            listener.session_added(session, inbound.request);
        }
        tracing::debug!(client_id = session.id(), "handshake");
        let mut advice = self.advice(Reconnect::Retry);
        advice.max_interval = Some(millis(self.config.max_interval));
        Ok(Reply::ok(Meta::Handshake, message.id().cloned())
            .client_id(session.client_id())
            .handshake(self.connection_types.clone())
            .advice(advice))
    }

    /// `/meta/subscribe` and `/meta/unsubscribe` (SUB-1 to SUB-5, UNSUB-1, SEC-2): every
    /// channel is checked before any is applied, so a subscribe applies all or none.
    pub(super) async fn subscription(
        &self,
        message: &Message,
        session: Option<&ServerSession>,
        inbound: Inbound<'_>,
    ) -> Result<Reply, BayeuxError> {
        let session = Self::live(message, session)?;
        let (meta, subscription) = match message.body().map_err(Clone::clone)? {
            Body::Subscribe(s) => (Meta::Subscribe, s),
            Body::Unsubscribe(s) => (Meta::Unsubscribe, s),
            _ => unreachable!("a subscription's body is a subscription"),
        };
        let patterns = subscription.patterns().map_err(Clone::clone)?;
        // Service messages never reach subscribers (SUB-4): nothing to check or record.
        let broadcast = patterns
            .iter()
            .filter(|p| p.kind() == ChannelKind::Broadcast);
        if meta == Meta::Subscribe {
            // Checked before any is applied, so a subscribe that would pass the limit
            // applies none (LIM-6); the hub holds the limit even against a race.
            let limit = self.config.max_subscriptions;
            if self.hub.subscriptions_with(&session.0, broadcast.clone()) > limit {
                return Err(BayeuxError::TooManySubscriptions(limit));
            }
            for pattern in broadcast.clone() {
                self.authorize(
                    Operation::Subscribe,
                    Some(&session),
                    pattern,
                    message,
                    inbound.request,
                )
                .await?;
            }
        }
        let mut interest = Vec::new();
        for pattern in broadcast {
            let changed = if meta == Meta::Subscribe {
                let limit = self.config.max_subscriptions;
                let added = self.hub.subscribe(&session.0, pattern, limit, || {
                    if let Some(cluster) = &self.cluster {
                        interest.push(cluster.interest(Interest::Added(pattern.clone())));
                    }
                });
                match added {
                    Some(added) => added,
                    None => {
                        settle(interest);
                        return Err(BayeuxError::TooManySubscriptions(limit));
                    }
                }
            } else {
                self.hub.unsubscribe(&session.0, pattern, || {
                    if let Some(cluster) = &self.cluster {
                        interest.push(cluster.interest(Interest::Removed(pattern.clone())));
                    }
                })
            };
            if !changed {
                continue;
            }
            for listener in &self.hooks.listeners {
                if meta == Meta::Subscribe {
                    listener.subscribed(&session, pattern);
                } else {
                    listener.unsubscribed(&session, pattern);
                }
            }
        }
        if meta == Meta::Subscribe {
            // A subscription is only answered once other nodes know to send its messages here.
            for added in interest {
                if let Err(error) = added.await {
                    tracing::warn!(%error, "cannot tell the cluster about a subscription");
                }
            }
        } else {
            settle(interest);
        }
        Ok(Reply::ok(meta, message.id().cloned())
            .client_id(session.client_id())
            .subscription(subscription.raw()))
    }

    /// `/meta/disconnect` (DISC-1, DISC-2).
    pub(super) fn disconnect(
        &self,
        message: &Message,
        session: Option<&ServerSession>,
    ) -> Result<Reply, BayeuxError> {
        let session = Self::live(message, session)?;
        self.end_session(&session.0, EndReason::Disconnected);
        tracing::debug!(client_id = session.id(), "disconnect");
        Ok(Reply::ok(Meta::Disconnect, message.id().cloned()).client_id(session.client_id()))
    }
}
