//! The hooks the configuration file's parts are built on: sign-in, users, publish filters
//! and asynchronous services.

use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::{data_of, Harness};
use crate::filter::{Filtered, PublishFilter};
use crate::protocol::{BayeuxError, ChannelName, Message, SignInError};
use crate::service::{Service, ServiceAnswer, ServiceRequest};
use crate::sign_in::SignIn;
use crate::{BoxFuture, Herald, RequestInfo, ServerSession};

/// Signs in whoever names a `user` in `ext`; `expired` for an expired one.
struct ByName;

impl SignIn for ByName {
    fn sign_in<'a>(
        &'a self,
        session: &'a ServerSession,
        message: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, Result<(), SignInError>> {
        let user = message
            .ext()
            .and_then(|ext| ext.get("user"))
            .and_then(Value::as_str);
        let result = match user {
            None => Err(SignInError::Missing),
            Some("expired") => Err(SignInError::Expired),
            Some(user) => {
                session.set_user(user);
                Ok(())
            }
        };
        Box::pin(async move { result })
    }
}

async fn signed_in(h: &Harness, user: &str) -> String {
    let reply = h.handshake_with(json!({ "user": user })).await;
    let id = reply["clientId"].as_str().unwrap().to_owned();
    h.connect(&id).await;
    id
}

#[tokio::test(start_paused = true)]
async fn sign_in_refusals_carry_their_advice_and_users_are_reached_in_every_session() {
    let h = Arc::new(Harness::new(Herald::builder().sign_in(ByName)));
    let missing = h.handshake_with(json!({})).await;
    assert_eq!(missing["error"], "401::token_missing");
    assert_eq!(missing["advice"]["reconnect"], "none");
    let expired = h.handshake_with(json!({ "user": "expired" })).await;
    assert_eq!(expired["advice"]["reconnect"], "handshake");
    let tabs = [signed_in(&h, "ada").await, signed_in(&h, "ada").await];
    let other = signed_in(&h, "bob").await;
    let waiting: Vec<_> = tabs.iter().map(|id| h.spawn_connect(id)).collect();
    let bystander = h.spawn_connect(&other);
    tokio::task::yield_now().await;
    let data = RawValue::from_string("1".into()).unwrap();
    assert_eq!(h.core.deliver_to_user("ada", "/users/ada", &data), Ok(2));
    for connect in waiting {
        assert_eq!(data_of(&connect.await.unwrap()), [json!(1)]);
    }
    // Removing the user tells the held connects to stop; bob is untouched.
    let tabs_again: Vec<_> = tabs.iter().map(|id| h.spawn_connect(id)).collect();
    tokio::task::yield_now().await;
    assert_eq!(h.core.remove_user("ada"), 2);
    for connect in tabs_again {
        let response = connect.await.unwrap();
        assert_eq!(response[0]["advice"]["reconnect"], "none", "{response}");
    }
    assert_eq!(h.core.remove_user("ada"), 0);
    assert!(!bystander.is_finished(), "bob's connect is still held");
}

/// Refuses `"no"`, rewrites `"shout"`, passes the rest.
struct Moderator;

impl PublishFilter for Moderator {
    fn filter<'a>(
        &'a self,
        _: &'a ChannelName,
        data: &'a RawValue,
        _: Option<&'a ServerSession>,
    ) -> BoxFuture<'a, Result<Filtered, BayeuxError>> {
        let verdict = match data.get() {
            r#""no""# => Err(BayeuxError::application(403, [""; 0], "Refused")),
            r#""shout""# => Ok(Filtered::Rewrite(
                RawValue::from_string(r#""SHOUT""#.into()).unwrap(),
            )),
            _ => Ok(Filtered::Pass),
        };
        Box::pin(async move {
            tokio::task::yield_now().await;
            verdict
        })
    }
}

/// Answers after a pause, or fails on `/service/fail`.
struct Slow;

impl Service for Slow {
    fn call<'a>(&'a self, request: &'a ServiceRequest<'a>) -> BoxFuture<'a, ServiceAnswer> {
        Box::pin(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            match request.channel.as_str() {
                "/service/fail" => Err(BayeuxError::WebhookTimeout),
                _ => Ok(Some(request.data.to_owned())),
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn publish_filters_and_asynchronous_services_decide_for_the_sender() {
    let pattern = crate::protocol::ChannelPattern::parse;
    let h = Harness::new(
        Herald::builder()
            .publish_filter(pattern("/moderated/**").unwrap(), Moderator)
            .service(pattern("/service/**").unwrap(), Slow),
    );
    let id = h.client().await;
    h.subscribe(&id, json!("/moderated/*")).await;
    assert_eq!(
        h.publish(&id, "/moderated/a", json!("hi")).await["successful"],
        true
    );
    assert_eq!(
        h.publish(&id, "/moderated/a", json!("shout")).await["successful"],
        true
    );
    let refused = h.publish(&id, "/moderated/a", json!("no")).await;
    assert_eq!(refused["error"], "403::Refused");
    assert_eq!(
        data_of(&h.connect(&id).await),
        [json!("hi"), json!("SHOUT")]
    );
    let answered = h.publish(&id, "/service/any", json!({"q": 1})).await;
    assert_eq!(answered["data"], json!({"q": 1}));
    let failed = h.publish(&id, "/service/fail", json!(1)).await;
    assert_eq!(failed["error"], "504::webhook_timeout");
}
