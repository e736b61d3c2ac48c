//! The library as an embedding program uses it: routes served without a socket, the
//! server-side publish API, custom `/service` handlers, expiry and shutdown.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use herald::protocol::ChannelName;
use herald::{Config, Herald};

mod common;
use common::{client, connect, post};

fn config() -> Config {
    Config {
        timeout: Duration::from_millis(5_000),
        max_interval: Duration::from_millis(200),
        sweep_period: Duration::from_millis(50),
        ..Config::default()
    }
}

#[tokio::test]
async fn shutdown_answers_held_connects_with_retry() {
    let herald = Herald::new(config());
    let router = herald.router();
    let id = client(&router, "/a").await;
    let held = tokio::spawn({
        let router = router.clone();
        async move { connect(&router, &id).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished(), "the connect should be held");
    let start = Instant::now();
    herald.shutdown();
    let reply = held.await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    let connect = reply.as_array().unwrap().last().unwrap();
    assert_eq!(connect["successful"], true);
    assert_eq!(connect["advice"]["reconnect"], "retry");
}

#[tokio::test]
async fn server_side_publish_reaches_subscribers() {
    let herald = Herald::new(config());
    let router = herald.router();
    let id = client(&router, "/news/*").await;
    let data = serde_json::value::RawValue::from_string(r#"{"headline":"hi"}"#.into()).unwrap();
    assert_eq!(herald.publish("/news/today", &data).unwrap(), 1);
    assert!(herald.publish("/news/*", &data).is_err());
    assert!(herald.publish("/meta/connect", &data).is_err());
    let reply = connect(&router, &id).await;
    assert_eq!(
        reply[0],
        json!({"channel":"/news/today","data":{"headline":"hi"}})
    );
}

#[tokio::test]
async fn custom_service_handlers_answer_the_sender_only() {
    let herald = Herald::builder()
        .config(config())
        .service(
            ChannelName::parse("/service/upper").unwrap(),
            |request: &herald::ServiceRequest<'_>| {
                let text: String = serde_json::from_str(request.data.get()).ok()?;
                serde_json::value::to_raw_value(&text.to_uppercase()).ok()
            },
        )
        .build();
    let router = herald.router();
    let watcher = client(&router, "/**").await;
    let caller = client(&router, "/x").await;
    let (_, reply) = post(
        &router,
        json!({"channel":"/service/upper","clientId":caller,"data":"shout","id":"9"}),
    )
    .await;
    assert_eq!(
        reply[0],
        json!({"channel":"/service/upper","id":"9","successful":true,"data":"SHOUT"})
    );
    // The watcher on /** got nothing: its connect is held until the timeout would pass,
    // so prove it with a marker published after the service call.
    let data = serde_json::value::RawValue::from_string("1".into()).unwrap();
    herald.publish("/marker", &data).unwrap();
    let reply = connect(&router, &watcher).await;
    assert_eq!(reply[0]["channel"], "/marker");
    // Without the demo flag there is no demo page.
    let request = Request::get("/").body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn idle_sessions_are_swept() {
    let herald = Herald::new(config());
    let router = herald.router();
    let id = client(&router, "/a").await;
    assert_eq!(herald.session_count(), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(herald.session_count(), 0);
    let reply = connect(&router, &id).await;
    assert_eq!(reply[0]["successful"], false);
    assert_eq!(reply[0]["advice"]["reconnect"], "handshake");
}
