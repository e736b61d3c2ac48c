//! The meta channels and publishing, as spec/bayeux.md states them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::{data_of, Harness};
use crate::{Config, Herald};

#[tokio::test(start_paused = true)]
async fn a_handshake_makes_a_session_and_a_failed_one_does_not() {
    let h = Harness::plain();
    let reply = h.handshake_with(json!({})).await;
    assert_eq!(reply["successful"], true);
    assert_eq!(reply["id"], "h");
    assert_eq!(reply["clientId"].as_str().unwrap().len(), 32);
    assert_eq!(
        reply["advice"],
        json!({"reconnect":"retry","interval":0,"timeout":30000,"maxInterval":10000})
    );
    assert_eq!(
        reply["supportedConnectionTypes"].as_array().unwrap().len(),
        5
    );
    assert_eq!(h.core.session_count(), 1);

    let missing = h
        .one(json!({"channel":"/meta/handshake","supportedConnectionTypes":["long-polling"]}))
        .await;
    assert_eq!(missing["error"], "400:version:Missing field");
    assert_eq!(
        missing["advice"],
        json!({"reconnect":"handshake","interval":0})
    );
    let unsupported = h
        .one(json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["carrier-pigeon"]}))
        .await;
    assert_eq!(
        unsupported["error"],
        "406:carrier-pigeon:Unsupported connection type"
    );
    assert_eq!(
        h.core.session_count(),
        1,
        "failed handshakes make no session"
    );
}

#[tokio::test(start_paused = true)]
async fn a_connect_is_held_until_a_message_arrives_or_its_timeout_passes() {
    let h = Arc::new(Harness::plain());
    let id = h.client().await;
    h.subscribe(&id, json!("/a")).await;

    let started = Instant::now();
    let held = h.spawn_connect(&id);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !held.is_finished(),
        "a connect with nothing to deliver is held (CN-6)"
    );
    assert_eq!(h.publish(&id, "/a", json!(1)).await["successful"], true);
    let response = held.await.unwrap();
    assert_eq!(data_of(&response), [json!(1)]);
    assert_eq!(
        response[1]["channel"], "/meta/connect",
        "events before the reply (MSG-6)"
    );
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(5),
        "answered as the message came"
    );

    let started = Instant::now();
    let response = h.connect(&id).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(30),
        "held for the server's timeout"
    );
    assert_eq!(response[0]["successful"], true);
    assert!(data_of(&response).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_newer_connect_answers_the_held_one_at_once() {
    let h = Arc::new(Harness::plain());
    let id = h.client().await;
    let first = h.spawn_connect(&id);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = h.spawn_connect(&id);
    let started = Instant::now();
    let answered = first.await.unwrap();
    assert_eq!(answered[0]["successful"], true);
    assert!(started.elapsed() < Duration::from_secs(1), "CN-7");
    assert!(!second.is_finished(), "the newer connect is the one held");
}

#[tokio::test(start_paused = true)]
async fn a_disconnect_ends_the_session_and_answers_its_held_connect() {
    let h = Arc::new(Harness::plain());
    let id = h.client().await;
    let held = h.spawn_connect(&id);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reply = h
        .one(json!({"channel":"/meta/disconnect","clientId":id,"id":"d"}))
        .await;
    assert_eq!(reply["successful"], true);
    let answered = held.await.unwrap();
    assert_eq!(answered[0]["advice"]["reconnect"], "none", "DISC-2");
    let again = h.connect(&id).await;
    assert_eq!(again[0]["error"], format!("402:{id}:Unknown client"));
    assert_eq!(again[0]["advice"]["reconnect"], "handshake");
}

#[tokio::test(start_paused = true)]
async fn idle_sessions_expire_after_interval_plus_max_interval() {
    let config = Config {
        max_interval: Duration::from_secs(2),
        sweep_period: Duration::from_millis(500),
        ..Config::default()
    };
    let h = Harness::new(Herald::builder().config(config));
    let id = h.client().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(h.core.session_count(), 1, "not yet");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.core.session_count(), 0, "SES-2");
    assert_eq!(h.connect(&id).await[0]["successful"], false);
}

#[tokio::test(start_paused = true)]
async fn subscriptions_are_echoed_checked_as_a_whole_and_undone() {
    let h = Harness::plain();
    let id = h.client().await;
    let both = h.subscribe(&id, json!(["/a", "/b/*"])).await;
    assert_eq!(both["successful"], true);
    assert_eq!(both["subscription"], json!(["/a", "/b/*"]));
    let refused = h.subscribe(&id, json!(["/c", "/meta/x"])).await;
    assert_eq!(refused["error"], "403:/meta/x:Forbidden channel");
    assert_eq!(
        refused["subscription"],
        json!(["/c", "/meta/x"]),
        "echoed on failure (SUB-3)"
    );
    let invalid = h.subscribe(&id, json!("/a/*/b")).await;
    assert_eq!(invalid["error"], "405:/a/*/b:Invalid channel");

    let publisher = h.client().await;
    for channel in ["/a", "/b/x", "/c"] {
        h.publish(&publisher, channel, json!(channel)).await;
    }
    assert_eq!(
        data_of(&h.connect(&id).await),
        [json!("/a"), json!("/b/x")],
        "not /c: all or nothing"
    );
    let undone = h
        .one(json!({"channel":"/meta/unsubscribe","clientId":id,"subscription":"/a"}))
        .await;
    assert_eq!(undone["successful"], true);
    h.publish(&publisher, "/a", json!(2)).await;
    h.publish(&publisher, "/b/x", json!(3)).await;
    assert_eq!(data_of(&h.connect(&id).await), [json!(3)]);
}

#[tokio::test(start_paused = true)]
async fn publishes_need_data_and_a_session_and_reach_each_subscriber_once() {
    let h = Harness::plain();
    let id = h.client().await;
    h.subscribe(&id, json!(["/chat/*", "/chat/news", "/**"]))
        .await;
    let reply = h.publish(&id, "/chat/news", json!({"t":1})).await;
    assert_eq!(
        reply,
        json!({"channel":"/chat/news","id":"p","successful":true})
    );
    assert_eq!(
        data_of(&h.connect(&id).await),
        [json!({"t":1})],
        "PUB-4, PUB-5"
    );
    let no_data = h.one(json!({"channel":"/chat/a","clientId":id})).await;
    assert_eq!(no_data["error"], "400:data:Missing field");
    let anonymous = h.one(json!({"channel":"/chat/a","data":1})).await;
    assert_eq!(anonymous["error"], "401::No client ID");
    let pattern = h.publish(&id, "/chat/*", json!(1)).await;
    assert_eq!(pattern["error"], "405:/chat/*:Invalid channel");
    let unknown_meta = h.one(json!({"channel":"/meta/nope","clientId":id})).await;
    assert_eq!(unknown_meta["error"], "404:/meta/nope:Unknown channel");
}

#[tokio::test(start_paused = true)]
async fn a_handshake_must_be_alone_in_its_request() {
    let h = Harness::plain();
    let response = h
        .request(json!([
            {"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1"},
            {"channel":"/a","data":1,"id":"2"}
        ]))
        .await;
    for reply in response.as_array().unwrap() {
        assert_eq!(
            reply["error"],
            "400::Handshake must be alone in its request"
        );
    }
    assert_eq!(h.core.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_held_connects_with_retry() {
    let h = Arc::new(Harness::plain());
    let id = h.client().await;
    let held = h.spawn_connect(&id);
    tokio::time::sleep(Duration::from_secs(1)).await;
    h.core.shutdown();
    let answered = held.await.unwrap();
    assert_eq!(answered[0]["successful"], true);
    assert_eq!(answered[0]["advice"]["reconnect"], "retry", "CN-8");
}
