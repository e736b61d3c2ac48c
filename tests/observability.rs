//! `/metrics`, `/health` and `/ready` (OBS-1, OBS-2), through the router.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use common::{client, post};
use herald::Herald;

async fn get(router: &Router, path: &str) -> (StatusCode, String) {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The value of the metric line that starts with `name` (labels included).
fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn metrics_count_sessions_publishes_deliveries_ends_and_errors() {
    let herald = Herald::builder().metrics().build();
    let router = herald.router();
    let first = client(&router, "/room").await;
    let second = client(&router, "/room").await;
    post(
        &router,
        json!({"channel":"/room","clientId":first,"data":1}),
    )
    .await;
    post(
        &router,
        json!({"channel":"/meta/subscribe","clientId":first,"subscription":"bad"}),
    )
    .await;
    post(
        &router,
        json!({"channel":"/meta/disconnect","clientId":second}),
    )
    .await;
    let (status, text) = get(&router, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value(&text, "herald_handshakes_total"), 2.0);
    assert_eq!(value(&text, "herald_sessions"), 1.0);
    assert_eq!(value(&text, "herald_published_total"), 1.0);
    assert_eq!(value(&text, "herald_delivered_total"), 2.0);
    assert_eq!(value(&text, "herald_subscriptions"), 1.0);
    assert_eq!(
        value(
            &text,
            r#"herald_sessions_ended_total{reason="disconnected"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, r#"herald_errors_total{code="405"}"#), 1.0);
}

#[tokio::test]
async fn health_stays_up_and_ready_turns_off_when_shutdown_starts() {
    let herald = Herald::builder().build();
    let router = herald.router();
    assert_eq!(get(&router, "/health").await.0, StatusCode::OK);
    assert_eq!(get(&router, "/ready").await.0, StatusCode::OK);
    assert_eq!(
        get(&router, "/metrics").await.0,
        StatusCode::NOT_FOUND,
        "off unless asked for"
    );
    herald.shutdown();
    assert_eq!(
        get(&router, "/ready").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get(&router, "/health").await.0, StatusCode::OK);
}
