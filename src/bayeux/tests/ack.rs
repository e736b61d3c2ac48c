//! The built-in extensions on the wire: `ack` (ACK-1 to ACK-4), `timesync`, `timestamp`.

use serde_json::json;

use super::{data_of, json_of, Harness};
use crate::bayeux::Connection;
use crate::{Config, Herald};

/// A session that asked for acknowledged delivery, connected once.
async fn acked(h: &Harness) -> String {
    let reply = h.handshake_with(json!({"ack":true})).await;
    assert_eq!(
        reply["ext"]["ack"], true,
        "ACK-1: the server says it acknowledges"
    );
    let id = reply["clientId"].as_str().unwrap().to_owned();
    let first = h.connect_with(&id, json!({"ack":0})).await;
    assert_eq!(
        first[0]["ext"]["ack"], 1,
        "every reply that takes from the queue closes a batch"
    );
    id
}

#[tokio::test(start_paused = true)]
async fn unacknowledged_batches_come_again_in_order_and_acknowledged_ones_never() {
    let h = Harness::plain();
    let id = acked(&h).await;
    h.subscribe(&id, json!("/a")).await;
    let publisher = h.client().await;
    for n in 1..=2 {
        h.publish(&publisher, "/a", json!(n)).await;
    }
    let second = h.connect_with(&id, json!({"ack":1})).await;
    assert_eq!(data_of(&second), [json!(1), json!(2)]);
    assert_eq!(second[2]["ext"]["ack"], 2);
    // That reply was lost: the client still acknowledges batch 1. Its connect is answered
    // at once with the same messages, then a new one.
    h.publish(&publisher, "/a", json!(3)).await;
    let again = h.connect_with(&id, json!({"ack":1})).await;
    assert_eq!(data_of(&again), [json!(1), json!(2), json!(3)]);
    assert_eq!(again[3]["ext"]["ack"], 3);
    h.publish(&publisher, "/a", json!(4)).await;
    let next = h.connect_with(&id, json!({"ack":3})).await;
    assert_eq!(
        data_of(&next),
        [json!(4)],
        "acknowledged batches never come again"
    );
}

#[tokio::test(start_paused = true)]
async fn without_ack_nothing_is_kept() {
    let h = Harness::plain();
    let id = h.client().await;
    let reply = h.connect_with(&id, json!({"ack":0})).await;
    assert!(
        reply[0].get("ext").is_none(),
        "no ack for a client that did not ask"
    );
}

#[tokio::test(start_paused = true)]
async fn a_websocket_with_ack_delivers_with_connects_only() {
    let h = Harness::plain();
    let plain = h.handshake_with(json!({})).await["clientId"].clone();
    let connect =
        |id| json!({"channel":"/meta/connect","clientId":id,"connectionType":"websocket"});
    let processed = h.process_on(connect(plain), Connection::WebSocket).await;
    assert!(processed.stream.is_some(), "a WebSocket pushes");
    let acked = h.handshake_with(json!({"ack":true})).await["clientId"].clone();
    let processed = h.process_on(connect(acked), Connection::WebSocket).await;
    assert!(
        processed.stream.is_none(),
        "with ack the connect delivers (ACK-3)"
    );
    assert!(processed.connect.is_some());
    assert!(json_of(&processed).as_array().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn ack_can_be_turned_off() {
    let config = Config {
        ack: false,
        ..Config::default()
    };
    let h = Harness::new(Herald::builder().config(config));
    let reply = h.handshake_with(json!({"ack":true})).await;
    assert!(reply.get("ext").is_none());
}

#[tokio::test(start_paused = true)]
async fn timesync_answers_with_the_servers_times() {
    let h = Harness::plain();
    let tc = 1_000;
    let reply = h
        .handshake_with(json!({"timesync":{"tc":tc,"l":0,"o":0}}))
        .await;
    let sync = &reply["ext"]["timesync"];
    assert_eq!(sync["tc"], tc);
    let ts = sync["ts"].as_i64().unwrap();
    assert!(ts > 1_700_000_000_000, "wall-clock ms: {ts}");
    assert!(sync["p"].as_i64().unwrap() >= 0);
    assert_eq!(sync["a"].as_i64().unwrap(), tc - ts, "a = tc + o + l - ts");
}

#[tokio::test(start_paused = true)]
async fn timestamps_are_added_when_asked_for() {
    let config = Config {
        timestamp: true,
        ..Config::default()
    };
    let h = Harness::new(Herald::builder().config(config));
    let id = h.client().await;
    h.subscribe(&id, json!("/a")).await;
    let reply = h.publish(&id, "/a", json!(1)).await;
    let stamp = reply["timestamp"].as_str().unwrap();
    assert!(stamp.ends_with(" GMT"), "{stamp}");
    let delivered = h.connect(&id).await;
    assert!(delivered[0]["timestamp"]
        .as_str()
        .unwrap()
        .ends_with(" GMT"));
}

#[tokio::test(start_paused = true)]
async fn an_event_source_session_with_ack_takes_its_messages_by_connect_once_each() {
    let h = Harness::plain();
    let id = acked(&h).await;
    h.subscribe(&id, json!("/a")).await;
    let request = crate::request::RequestInfo::default();
    let stream = h.core.event_stream(&id, &request).unwrap();
    assert!(
        matches!(stream, crate::bayeux::EventStream::Quiet),
        "the stream cannot carry batch numbers: it pushes nothing"
    );
    let publisher = h.client().await;
    h.publish(&publisher, "/a", json!(1)).await;
    let connect = |ack: u64| {
        h.request(json!({"channel":"/meta/connect","clientId":id,
            "connectionType":"eventsource","ext":{"ack":ack}}))
    };
    let first = connect(1).await;
    assert_eq!(data_of(&first), [json!(1)], "the connect delivers: {first}");
    assert_eq!(first[1]["ext"]["ack"], 2);
    // Acknowledged: never again. The next connect is held until something comes.
    let h = std::sync::Arc::new(h);
    let held = {
        let (h, id) = (std::sync::Arc::clone(&h), id.clone());
        tokio::spawn(async move {
            h.request(json!({"channel":"/meta/connect","clientId":id,
                "connectionType":"eventsource","ext":{"ack":2}}))
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!held.is_finished(), "held, as a poll");
    h.publish(&publisher, "/a", json!(2)).await;
    assert_eq!(data_of(&held.await.unwrap()), [json!(2)]);
}
