//! Bounds a client cannot push past (LIM-6, LIM-7).

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
