//! What an application plugs in: extensions, the security policy, authorizers, listeners,
//! and server-side sessions.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::{data_of, Harness};
use crate::extension::{Delivery, Extension, Incoming, Verdict};
use crate::protocol::{BayeuxError, ChannelPattern, Event, FrozenEvent, Message, Reply};
use crate::security::{Grant, Operation};
use crate::{BoxFuture, EndReason, Herald, Listener, RequestInfo, SecurityPolicy, ServerSession};

/// Rewrites `/rewrite/**`, rejects `/reject/**`, drops `/drop/**` (incoming); tags every
/// reply; stamps broadcasts on `/stamped/**`; per recipient, replaces deliveries to
/// sessions marked `Loud` and skips those marked `Deaf`.
struct Demo;

#[derive(Clone)]
struct Loud;
#[derive(Clone)]
struct Deaf;

fn starts(message: &Message, prefix: &str) -> bool {
    message.channel().as_str().starts_with(prefix)
}

impl Extension for Demo {
    fn incoming(&self, message: &mut Message, _: &Incoming<'_>) -> Verdict {
        if starts(message, "/rewrite/") {
            message.set_data(RawValue::from_string(r#""rewritten""#.into()).unwrap());
        } else if starts(message, "/reject/") {
            return Verdict::Reject(BayeuxError::application(409, ["busy"], "Try later"));
        } else if starts(message, "/drop/") {
            return Verdict::Drop;
        }
        Verdict::Pass
    }

    fn reply(&self, reply: &mut Reply, _: &Message, _: Option<&ServerSession>) -> Verdict {
        reply.ext_mut().insert("seen".into(), true.into());
        Verdict::Pass
    }

    fn broadcast(&self, event: &mut Event, _: Option<&ServerSession>) -> Verdict {
        if event.channel().as_str().starts_with("/stamped/") {
            event.ext_mut().insert("stamp".into(), 7.into());
        }
        Verdict::Pass
    }

    fn deliver(&self, event: &FrozenEvent, to: &ServerSession) -> Delivery {
        if to.attribute::<Deaf>().is_some() {
            Delivery::Skip
        } else if to.attribute::<Loud>().is_some() {
            let mut loud = event.thaw();
            loud.set_data(RawValue::from_string(r#""LOUD""#.into()).unwrap());
            Delivery::Replace(loud)
        } else {
            Delivery::Deliver
        }
    }
}

#[tokio::test(start_paused = true)]
async fn extensions_rewrite_reject_and_drop_messages_in_and_out() {
    let h = Harness::new(Herald::builder().extension(Demo));
    let id = h.client().await;
    h.subscribe(&id, json!("/**")).await;
    let rewritten = h.publish(&id, "/rewrite/a", json!("original")).await;
    assert_eq!(rewritten["successful"], true);
    assert_eq!(
        rewritten["ext"]["seen"], true,
        "reply hooks see every reply"
    );
    let rejected = h.publish(&id, "/reject/a", json!(1)).await;
    assert_eq!(rejected["error"], "409:busy:Try later");
    let dropped = h.publish(&id, "/drop/a", json!(1)).await;
    assert_eq!(dropped["error"], "404::message_deleted");
    h.publish(&id, "/stamped/a", json!(2)).await;
    let delivered = h.connect(&id).await;
    assert_eq!(data_of(&delivered), [json!("rewritten"), json!(2)]);
    assert_eq!(
        delivered[1]["ext"]["stamp"], 7,
        "the broadcast hook's change is delivered"
    );
}

#[tokio::test(start_paused = true)]
async fn per_recipient_hooks_change_one_delivery_and_share_the_rest() {
    let herald = Herald::builder().extension(Demo).build();
    let mut plain = herald.local_session().await.unwrap();
    let mut other = herald.local_session().await.unwrap();
    let mut loud = herald.local_session().await.unwrap();
    let mut deaf = herald.local_session().await.unwrap();
    loud.session().set_attribute(Loud);
    deaf.session().set_attribute(Deaf);
    for session in [&plain, &other, &loud, &deaf] {
        session.subscribe("/room").await.unwrap();
    }
    plain.publish("/room", &json!("hi")).await.unwrap();
    plain.publish("/room", &json!("again")).await.unwrap();
    let (a, b) = (plain.recv().await.unwrap(), other.recv().await.unwrap());
    assert!(
        a.same(&b),
        "untouched deliveries share one serialized message"
    );
    assert_eq!(loud.recv().await.unwrap().data_json(), r#""LOUD""#);
    let nothing = tokio::time::timeout(Duration::from_secs(5), deaf.recv()).await;
    assert!(nothing.is_err(), "skipped deliveries never arrive");
}

/// Lets in handshakes with `ext.token`, keeps the user as an attribute; only `admin`
/// subscribes to `/private/**`; nobody publishes to `/readonly/**`; nobody brings
/// `/closed/**` into use.
struct Policy;

#[derive(Clone, PartialEq, Debug)]
struct User(String);

fn allow(allowed: bool) -> BoxFuture<'static, bool> {
    Box::pin(async move { allowed })
}

impl SecurityPolicy for Policy {
    fn can_handshake<'a>(
        &'a self,
        session: &'a ServerSession,
        message: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        let token = message
            .ext()
            .and_then(|ext| ext.get("token"))
            .and_then(Value::as_str);
        if let Some(user) = token {
            session.set_attribute(User(user.to_owned()));
        }
        allow(token.is_some())
    }

    fn can_create<'a>(
        &'a self,
        _: Option<&'a ServerSession>,
        channel: &'a ChannelPattern,
        _: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        allow(!channel.as_str().starts_with("/closed/"))
    }

    fn can_subscribe<'a>(
        &'a self,
        session: &'a ServerSession,
        channel: &'a ChannelPattern,
        _: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        let admin = session.attribute::<User>() == Some(User("admin".into()));
        allow(admin || !channel.as_str().starts_with("/private/"))
    }

    fn can_publish<'a>(
        &'a self,
        _: Option<&'a ServerSession>,
        channel: &'a ChannelPattern,
        _: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        allow(!channel.as_str().starts_with("/readonly/"))
    }
}

#[tokio::test(start_paused = true)]
async fn the_security_policy_decides_with_cometd_errors_and_advice() {
    let h = Harness::new(Herald::builder().security_policy(Policy));
    let denied = h.handshake_with(json!({})).await;
    assert_eq!(denied["error"], "403::handshake_denied");
    assert_eq!(
        denied["advice"]["reconnect"], "none",
        "a denied client stops"
    );
    assert_eq!(h.core.session_count(), 0);

    let user = h.handshake_with(json!({"token":"ada"})).await;
    let user = user["clientId"].as_str().unwrap();
    let admin = h.handshake_with(json!({"token":"admin"})).await;
    let admin = admin["clientId"].as_str().unwrap();
    let refused = h.subscribe(user, json!("/private/x")).await;
    assert_eq!(
        refused["error"],
        "403:denied_by_security_policy:subscribe_denied"
    );
    assert_eq!(
        h.subscribe(admin, json!("/private/x")).await["successful"],
        true
    );
    let read_only = h.publish(admin, "/readonly/x", json!(1)).await;
    assert_eq!(
        read_only["error"],
        "403:denied_by_security_policy:publish_denied"
    );
    let closed = h.subscribe(user, json!("/closed/x")).await;
    assert_eq!(
        closed["error"],
        "403:denied_by_security_policy:create_denied"
    );
    let closed = h.publish(user, "/closed/x", json!(1)).await;
    assert_eq!(
        closed["error"],
        "403:denied_by_security_policy:channel_create_denied"
    );
}

#[tokio::test(start_paused = true)]
async fn authorizers_grant_or_deny_per_channel_pattern() {
    let builder = Herald::builder().authorizer(
        ChannelPattern::parse("/news/**").unwrap(),
        Grant(&[Operation::Create, Operation::Subscribe]),
    );
    let h = Harness::new(builder);
    let id = h.client().await;
    assert_eq!(h.subscribe(&id, json!("/news/*")).await["successful"], true);
    let publish = h.publish(&id, "/news/a", json!(1)).await;
    assert_eq!(
        publish["error"],
        "403:denied_by_not_granting:publish_denied"
    );
    assert_eq!(
        h.publish(&id, "/elsewhere", json!(1)).await["successful"],
        true
    );
}

/// Records what it hears, in order.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Listener for Recorder {
    fn session_added(&self, _: &ServerSession, _: &RequestInfo) {
        self.0.lock().push("added".into());
    }
    fn session_removed(&self, _: &ServerSession, reason: EndReason) {
        self.0.lock().push(format!("removed {reason:?}"));
    }
    fn subscribed(&self, _: &ServerSession, channel: &ChannelPattern) {
        self.0.lock().push(format!("subscribed {channel}"));
    }
    fn unsubscribed(&self, _: &ServerSession, channel: &ChannelPattern) {
        self.0.lock().push(format!("unsubscribed {channel}"));
    }
    fn published(&self, from: Option<&ServerSession>, event: &FrozenEvent, reached: usize) {
        let from = if from.is_some() { "client" } else { "server" };
        self.0.lock().push(format!(
            "published {} by {from} to {reached}",
            event.channel()
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn listeners_hear_sessions_subscriptions_and_publishes() {
    let recorder = Recorder::default();
    let herald = Herald::builder().listener(recorder.clone()).build();
    let session = herald.local_session().await.unwrap();
    session.subscribe("/a").await.unwrap();
    session.subscribe("/a").await.unwrap();
    session.subscribe("/b/*").await.unwrap();
    session.publish("/a", &json!(1)).await.unwrap();
    herald
        .publish("/b/c", &RawValue::from_string("2".into()).unwrap())
        .unwrap();
    session.unsubscribe("/a").await.unwrap();
    drop(session);
    let mut heard = recorder.0.lock().clone();
    let end = heard.split_off(6);
    assert_eq!(
        heard,
        [
            "added",
            "subscribed /a",
            "subscribed /b/*",
            "published /a by client to 1",
            "published /b/c by server to 1",
            "unsubscribed /a",
        ]
    );
    assert_eq!(end, ["removed Disconnected", "unsubscribed /b/*"]);
}

#[tokio::test(start_paused = true)]
async fn a_server_side_session_talks_with_remote_clients() {
    let h = Harness::plain();
    let herald = Herald {
        core: Arc::clone(&h.core),
        demo: false,
        metrics: None,
    };
    let mut bot = herald.local_session().await.unwrap();
    assert!(bot.session().is_local());
    bot.subscribe("/chat/*").await.unwrap();
    let remote = h.client().await;
    h.subscribe(&remote, json!("/chat/*")).await;
    h.publish(&remote, "/chat/a", json!("ping")).await;
    let heard = bot.recv().await.unwrap();
    assert_eq!(
        (heard.channel().as_str(), heard.data_json()),
        ("/chat/a", r#""ping""#)
    );
    bot.publish("/chat/a", &json!("pong")).await.unwrap();
    assert_eq!(
        data_of(&h.connect(&remote).await),
        [json!("ping"), json!("pong")]
    );
    let echo = bot.publish("/service/none", &json!(1)).await.unwrap();
    assert!(echo.is_none(), "no handler: acknowledged without data");
}
