//! Bounds a client cannot push past (LIM-6, LIM-7, LIM-12), and the pacing of a storm
//! (STORM-1).

use std::time::Duration;

use serde_json::json;

use super::Harness;
use crate::{Config, Herald};

fn limited(max_subscriptions: usize, max_sessions: usize) -> Harness {
    Harness::new(Herald::builder().config(Config {
        max_subscriptions,
        max_sessions,
        ..Config::default()
    }))
}

#[tokio::test(start_paused = true)]
async fn a_session_holds_at_most_its_subscription_limit_all_or_none() {
    let h = limited(3, 10);
    let id = h.client().await;
    assert_eq!(
        h.subscribe(&id, json!(["/a", "/b"])).await["successful"],
        true
    );
    let over = h.subscribe(&id, json!(["/c", "/d"])).await;
    assert_eq!(over["error"], "403:3:too_many_subscriptions");
    assert_eq!(over["subscription"], json!(["/c", "/d"]));
    // None of the refused batch was applied: one more still fits.
    assert_eq!(h.subscribe(&id, json!("/c")).await["successful"], true);
    // Subscribing again to one held is not a new subscription; a new one is refused.
    assert_eq!(h.subscribe(&id, json!("/a")).await["successful"], true);
    assert_eq!(h.subscribe(&id, json!("/e")).await["successful"], false);
    // Service channels are not recorded (SUB-4), so they never count.
    assert_eq!(
        h.subscribe(&id, json!("/service/x")).await["successful"],
        true
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_node_sends_handshakes_back_to_try_later() {
    let h = limited(10, 2);
    h.client().await;
    h.client().await;
    let refused = h.handshake_with(json!({})).await;
    assert_eq!(refused["error"], "503::server_full");
    assert_eq!(refused["advice"]["reconnect"], "handshake");
}

#[tokio::test(start_paused = true)]
async fn a_session_publishes_at_most_its_rate_and_others_are_not_held_back() {
    let h = Harness::new(Herald::builder().config(Config {
        max_publish_rate: 5,
        ..Config::default()
    }));
    let (flooder, other) = (h.client().await, h.client().await);
    let burst: Vec<_> = (0..7)
        .map(|i| json!({"channel":"/room","clientId":flooder,"data":i}))
        .collect();
    let replies = h.request(json!(burst)).await;
    let refused: Vec<_> = replies
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["successful"] == false)
        .collect();
    assert_eq!(refused.len(), 2, "a second's worth passes: {replies}");
    assert_eq!(refused[0]["error"], "429:5:publish_rate_exceeded");
    assert_eq!(
        h.publish(&other, "/room", json!(1)).await["successful"],
        true
    );
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        h.publish(&flooder, "/room", json!(8)).await["successful"],
        true
    );
}

#[tokio::test(start_paused = true)]
async fn a_reconnect_storm_is_spread_by_advice_and_calm_is_not() {
    let h = Harness::new(Herald::builder().config(Config {
        handshake_surge: 5,
        surge_spread: Duration::from_secs(4),
        ..Config::default()
    }));
    let stale = |i: usize| {
        let h = &h;
        async move { h.connect(&format!("gone{i}")).await[0].take() }
    };
    // Calm: a client of a restarted node is sent back to the handshake at once.
    let calm = stale(0).await;
    assert_eq!(calm["error"], "402:gone0:Unknown client");
    assert_eq!(calm["advice"]["reconnect"], "handshake");
    assert_eq!(calm["advice"]["interval"], 0);
    // Fifteen handshakes in a second: three times the threshold.
    for _ in 0..15 {
        let reply = h.handshake_with(json!({})).await;
        assert_eq!(
            reply["advice"]["interval"], 0,
            "a session made is not held back"
        );
    }
    let mut waits = Vec::new();
    for i in 1..=40 {
        let reply = stale(i).await;
        assert_eq!(reply["advice"]["reconnect"], "handshake");
        waits.push(reply["advice"]["interval"].as_u64().unwrap());
    }
    assert!(
        waits.iter().all(|&ms| ms <= 2000),
        "two seconds' worth: {waits:?}"
    );
    assert!(waits.iter().any(|&ms| ms >= 1000) && waits.iter().any(|&ms| ms < 1000));
    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(stale(99).await["advice"]["interval"], 0);
}
