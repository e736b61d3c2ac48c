//! Requests an embedding program's tests make to herald's router, without a socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// POSTs `body` to `/cometd`: the status and the JSON answer.
pub async fn post(router: &Router, body: Value) -> (StatusCode, Value) {
    let request = Request::post("/cometd")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Handshakes, connects once (answered at once, CN-3) and subscribes to `channel`.
pub async fn client(router: &Router, channel: &str) -> String {
    let (_, reply) = post(
        router,
        json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}),
    )
    .await;
    let id = reply[0]["clientId"].as_str().unwrap().to_owned();
    connect(router, &id).await;
    let (_, reply) = post(
        router,
        json!({"channel":"/meta/subscribe","clientId":id,"subscription":channel}),
    )
    .await;
    assert_eq!(reply[0]["successful"], true);
    id
}

pub async fn connect(router: &Router, id: &str) -> Value {
    post(
        router,
        json!({"channel":"/meta/connect","clientId":id,"connectionType":"long-polling","id":"c"}),
    )
    .await
    .1
}
