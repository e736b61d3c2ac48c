//! Sessions bound to their browser (BIND-1), through the router: the cookie the handshake
//! sets, then who may act for the session.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use herald::{Config, Herald};

/// POSTs `body` with the browser cookie `browser`, if any: the answer and the cookie set.
async fn post(router: &Router, browser: Option<&str>, body: Value) -> (Value, Option<String>) {
    post_from(router, None, browser, body).await
}

/// The same, from the client address `peer` as the server would have seen it.
async fn post_from(
    router: &Router,
    peer: Option<&str>,
    browser: Option<&str>,
    body: Value,
) -> (Value, Option<String>) {
    let mut request = Request::post("/cometd").header("content-type", "application/json");
    if let Some(peer) = peer {
        request = request.extension(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    }
    if let Some(browser) = browser {
        request = request.header(header::COOKIE, format!("other=1; BAYEUX_BROWSER={browser}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|value| value.to_str().ok()?.strip_prefix("BAYEUX_BROWSER="))
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (serde_json::from_slice(&bytes).unwrap(), cookie)
}

async fn handshake(router: &Router, browser: Option<&str>) -> (String, Option<String>) {
    let (reply, cookie) = post(
        router,
        browser,
        json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}),
    )
    .await;
    (reply[0]["clientId"].as_str().unwrap().to_owned(), cookie)
}

/// Whether a publish naming `client_id`, sent with `browser`, was accepted.
async fn acts(router: &Router, client_id: &str, browser: Option<&str>) -> bool {
    let message = json!({"channel":"/room","clientId":client_id,"data":1});
    let (reply, _) = post(router, browser, message).await;
    if reply[0]["successful"] == false {
        assert_eq!(reply[0]["error"], format!("402:{client_id}:Unknown client"));
        assert_eq!(reply[0]["advice"]["reconnect"], "handshake");
    }
    reply[0]["successful"] == true
}

#[tokio::test]
async fn a_session_answers_only_its_browser_once_the_browser_sent_its_cookie_back() {
    let router = Herald::new(Config::default()).router();
    let (id, cookie) = handshake(&router, None).await;
    let mine = cookie.expect("a handshake without a cookie gets one");
    assert!(
        acts(&router, &id, None).await,
        "not yet known to keep cookies"
    );
    assert!(acts(&router, &id, Some("someone-else")).await);
    assert!(acts(&router, &id, Some(&mine)).await);
    assert!(
        !acts(&router, &id, None).await,
        "a stolen clientId without the cookie"
    );
    assert!(!acts(&router, &id, Some("someone-else")).await);
    assert!(
        acts(&router, &id, Some(&mine)).await,
        "refusals did not end it"
    );
}

#[tokio::test]
async fn a_returning_browser_is_bound_at_once_and_a_client_without_cookies_is_never_refused() {
    let router = Herald::new(Config::default()).router();
    let (id, cookie) = handshake(&router, Some("returning")).await;
    assert_eq!(cookie, None, "it has one already");
    assert!(!acts(&router, &id, None).await);
    assert!(acts(&router, &id, Some("returning")).await);
    let (script, _) = handshake(&router, None).await;
    for _ in 0..3 {
        assert!(acts(&router, &script, None).await);
    }
}

#[tokio::test]
async fn an_event_stream_for_another_browsers_session_is_refused() {
    let router = Herald::new(Config::default()).router();
    let (id, cookie) = handshake(&router, None).await;
    let mine = cookie.unwrap();
    assert!(acts(&router, &id, Some(&mine)).await);
    let stream = |browser: &str| {
        Request::get(format!("/cometd/{id}"))
            .header(header::ACCEPT, "text/event-stream")
            .header(header::COOKIE, format!("BAYEUX_BROWSER={browser}"))
            .body(Body::empty())
            .unwrap()
    };
    let theirs = router.clone().oneshot(stream("thief")).await.unwrap();
    assert_eq!(theirs.status(), StatusCode::BAD_REQUEST);
    let own = router.clone().oneshot(stream(&mine)).await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
}

#[tokio::test]
async fn binding_can_be_turned_off() {
    let router = Herald::new(Config {
        bind_sessions: false,
        ..Config::default()
    })
    .router();
    let (id, cookie) = handshake(&router, None).await;
    assert!(
        cookie.is_some(),
        "the cookie still counts a browser's polls (TR-8)"
    );
    assert!(acts(&router, &id, Some(&cookie.unwrap())).await);
    assert!(acts(&router, &id, Some("someone-else")).await);
    assert!(acts(&router, &id, None).await);
}

#[tokio::test]
async fn without_its_cookie_a_bound_session_answers_only_the_handshakes_address() {
    let router = Herald::new(Config::default()).router();
    let home = "198.51.100.7:50000";
    let (reply, cookie) = post_from(
        &router,
        Some(home),
        None,
        json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["websocket","long-polling"]}),
    )
    .await;
    let id = reply[0]["clientId"].as_str().unwrap().to_owned();
    let mine = cookie.unwrap();
    let from = |peer: &'static str, browser: Option<&'static str>| {
        let (router, id) = (router.clone(), id.clone());
        async move {
            let message = json!({"channel":"/room","clientId":id,"data":1});
            post_from(&router, Some(peer), browser, message).await.0[0]["successful"] == true
        }
    };
    assert!(
        acts(&router, &id, Some(&mine)).await,
        "proven: it keeps cookies"
    );
    // A socket opened before the cookie existed (Faye opens its WebSocket early), another
    // port of the same host: still the client's.
    assert!(from("198.51.100.7:50001", None).await);
    assert!(from("198.51.100.7:50002", Some("a-second-tab")).await);
    assert!(
        !from("203.0.113.9:40000", None).await,
        "elsewhere, without the cookie"
    );
    assert!(!from("203.0.113.9:40000", Some("thief")).await);
}
