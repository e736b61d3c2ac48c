//! Who may do what: a [`SecurityPolicy`] decides each handshake, channel creation,
//! subscription and publish, and [`Authorizer`]s on channel patterns add per-channel rules,
//! as in CometD (SEC-1 to SEC-5).
//!
//! Policy checks are asynchronous, so a policy may ask another service (a token check, a
//! database); authorizers are synchronous rules. A denial becomes CometD's error string:
//! `403::handshake_denied` (with `advice.reconnect: none`, so the client stops instead of
//! hammering the server), `403:<reason>:subscribe_denied`, `403:<reason>:publish_denied`,
//! `403:<reason>:create_denied` on a subscribe and `403:<reason>:channel_create_denied` on a
//! publish. Meta channels are never subject to either: the protocol rules them.

use std::sync::Arc;

use futures_util::future::{self, BoxFuture};
use futures_util::FutureExt;

use crate::protocol::{ChannelPattern, Message};
use crate::request::RequestInfo;
use crate::session::ServerSession;

/// The reason in a denial by the security policy.
pub const DENIED_BY_POLICY: &str = "denied_by_security_policy";
/// The reason in a denial because authorizers exist for a channel and none granted.
pub const DENIED_BY_NOT_GRANTING: &str = "denied_by_not_granting";

/// The server's security policy. Every check has a default that allows, so a policy
/// implements only what it restricts. Each check gets the session (with its attributes),
/// the message, and the request that carried it.
///
/// ```
/// use herald::{BoxFuture, RequestInfo, SecurityPolicy, ServerSession};
/// use herald::protocol::Message;
///
/// /// Lets in only clients that present the right token in their handshake's `ext`.
/// struct TokenPolicy;
///
/// impl SecurityPolicy for TokenPolicy {
///     fn can_handshake<'a>(
///         &'a self,
///         session: &'a ServerSession,
///         message: &'a Message,
///         _request: &'a RequestInfo,
///     ) -> BoxFuture<'a, bool> {
///         let token = message.ext().and_then(|ext| ext.get("token")).and_then(|t| t.as_str());
///         let allowed = token == Some("let-me-in");
///         Box::pin(async move { allowed })
///     }
/// }
/// ```
pub trait SecurityPolicy: Send + Sync + 'static {
    /// Whether a client may handshake. `session` is the session being made: attributes set
    /// on it (the signed-in user) stay with it if the handshake is allowed.
    fn can_handshake<'a>(
        &'a self,
        session: &'a ServerSession,
        message: &'a Message,
        request: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        let _ = (session, message, request);
        allow()
    }

    /// Whether a channel that has no subscriber on this node yet may be brought into use,
    /// by a subscribe (`channel` is then the pattern) or a publish (`session` is `None` for
    /// an anonymous publish).
    fn can_create<'a>(
        &'a self,
        session: Option<&'a ServerSession>,
        channel: &'a ChannelPattern,
        message: &'a Message,
        request: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        let _ = (session, channel, message, request);
        allow()
    }

    /// Whether a session may subscribe to `channel` (a name or a pattern).
    fn can_subscribe<'a>(
        &'a self,
        session: &'a ServerSession,
        channel: &'a ChannelPattern,
        message: &'a Message,
        request: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        let _ = (session, channel, message, request);
        allow()
    }

    /// Whether a session (none for an anonymous publish) may publish to `channel`, a
    /// broadcast or a service channel.
    fn can_publish<'a>(
        &'a self,
        session: Option<&'a ServerSession>,
        channel: &'a ChannelPattern,
        message: &'a Message,
        request: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        let _ = (session, channel, message, request);
        allow()
    }
}

fn allow() -> BoxFuture<'static, bool> {
    future::ready(true).boxed()
}

/// What an authorizer may be asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Bringing a channel into use (see [`SecurityPolicy::can_create`]).
    Create,
    /// Subscribing.
    Subscribe,
    /// Publishing.
    Publish,
}

/// An authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// Allowed, unless another authorizer denies.
    Grant,
    /// Denied, whatever the others say; the reason goes in the error string.
    Deny(String),
    /// No opinion.
    Ignore,
}

/// A rule for the channels a pattern covers (SEC-4). Every authorizer whose pattern covers
/// a channel is asked: one denial denies; otherwise one grant allows; and when authorizers
/// apply but none grants, the operation is denied (`denied_by_not_granting`). A channel no
/// authorizer covers is left to the policy.
pub trait Authorizer: Send + Sync + 'static {
    /// Decides `operation` on `channel` for `session` (none for an anonymous publish).
    fn authorize(
        &self,
        operation: Operation,
        channel: &ChannelPattern,
        session: Option<&ServerSession>,
        message: &Message,
    ) -> Authorization;
}

/// An authorizer that grants some operations to everyone and ignores the others, like
/// CometD's `GrantAuthorizer`: `Grant(&[Operation::Subscribe])` on `/news/**` makes
/// `/news/**` subscribe-only for clients once any authorizer covers it.
#[derive(Debug, Clone, Copy)]
pub struct Grant(pub &'static [Operation]);

impl Grant {
    /// Grants everything.
    pub const ALL: Grant = Grant(&[Operation::Create, Operation::Subscribe, Operation::Publish]);
}

impl Authorizer for Grant {
    fn authorize(
        &self,
        operation: Operation,
        _: &ChannelPattern,
        _: Option<&ServerSession>,
        _: &Message,
    ) -> Authorization {
        if self.0.contains(&operation) {
            Authorization::Grant
        } else {
            Authorization::Ignore
        }
    }
}

/// The registered authorizers, by pattern.
#[derive(Clone, Default)]
pub(crate) struct Authorizers(Vec<(ChannelPattern, Arc<dyn Authorizer>)>);

impl Authorizers {
    pub(crate) fn push(&mut self, pattern: ChannelPattern, authorizer: Arc<dyn Authorizer>) {
        self.0.push((pattern, authorizer));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The combined answer of every authorizer covering `channel`: `Err(reason)` when
    /// denied.
    pub(crate) fn check(
        &self,
        operation: Operation,
        channel: &ChannelPattern,
        session: Option<&ServerSession>,
        message: &Message,
    ) -> Result<(), String> {
        let mut applied = false;
        let mut granted = false;
        for (pattern, authorizer) in &self.0 {
            if !pattern.covers(channel) {
                continue;
            }
            applied = true;
            match authorizer.authorize(operation, channel, session, message) {
                Authorization::Grant => granted = true,
                Authorization::Deny(reason) => return Err(reason),
                Authorization::Ignore => {}
            }
        }
        if applied && !granted {
            return Err(DENIED_BY_NOT_GRANTING.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChannelName;
    use serde_json::value::RawValue;

    struct DenyAll;

    impl Authorizer for DenyAll {
        fn authorize(
            &self,
            _: Operation,
            _: &ChannelPattern,
            _: Option<&ServerSession>,
            _: &Message,
        ) -> Authorization {
            Authorization::Deny("closed".into())
        }
    }

    #[test]
    fn deny_wins_grant_allows_ignore_denies_when_covered() {
        let pattern = |p| ChannelPattern::parse(p).unwrap();
        let mut authorizers = Authorizers::default();
        authorizers.push(
            pattern("/news/**"),
            Arc::new(Grant(&[Operation::Subscribe])),
        );
        authorizers.push(pattern("/news/secret"), Arc::new(DenyAll));
        let data = RawValue::from_string("1".into()).unwrap();
        let message = Message::publish(None, ChannelName::parse("/news/a").unwrap(), data);
        let check = |op, channel| authorizers.check(op, &pattern(channel), None, &message);
        assert_eq!(check(Operation::Subscribe, "/news/a"), Ok(()));
        assert_eq!(check(Operation::Subscribe, "/news/*"), Ok(()));
        assert_eq!(
            check(Operation::Publish, "/news/a"),
            Err(DENIED_BY_NOT_GRANTING.into())
        );
        assert_eq!(
            check(Operation::Subscribe, "/news/secret"),
            Err("closed".into())
        );
        assert_eq!(
            check(Operation::Publish, "/other"),
            Ok(()),
            "no authorizer: no opinion"
        );
    }
}
