//! `/metrics`, `/health` and `/ready` (OBS-1, OBS-2), through the router.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use common::{client, connect, post};
use futures_util::future::BoxFuture;
use herald::cluster::{Cluster, ClusterError, Inbox, Interest};
use herald::protocol::FrozenEvent;
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

#[tokio::test]
async fn metrics_read_links_queues_traffic_and_limits_from_the_core() {
    let herald = Herald::builder()
        .config(herald::Config {
            max_subscriptions: 1,
            ..herald::Config::default()
        })
        .metrics()
        .build();
    let router = herald.router();
    let holder = client(&router, "/room").await;
    let waiting = client(&router, "/room").await;
    let held = {
        let (router, holder) = (router.clone(), holder.clone());
        tokio::spawn(async move { connect(&router, &holder).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (_, refused) = post(
        &router,
        json!({"channel":"/meta/subscribe","clientId":waiting,"subscription":"/other"}),
    )
    .await;
    assert_eq!(refused[0]["error"], "403:1:too_many_subscriptions");
    // Published to both: the held connect takes its copy, the other waits in its queue.
    post(
        &router,
        json!({"channel":"/room","clientId":waiting,"data":"x"}),
    )
    .await;
    held.await.unwrap();
    let (_, text) = get(&router, "/metrics").await;
    assert_eq!(
        value(
            &text,
            r#"herald_limits_hit_total{limit="max_subscriptions"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, "herald_queued_messages"), 1.0);
    assert!(value(&text, "herald_largest_queue_bytes") > 0.0);
    assert_eq!(
        value(&text, r#"herald_sessions_by_link{link="between"}"#),
        2.0
    );
    // Two handshakes, three connects, three subscribes, one publish.
    assert_eq!(value(&text, "herald_received_messages_total"), 9.0);
    assert!(value(&text, "herald_received_bytes_total") > 500.0);
    assert!(value(&text, "herald_sent_bytes_total") > 500.0);
    let held = {
        let (router, holder) = (router.clone(), holder.clone());
        tokio::spawn(async move { connect(&router, &holder).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (_, text) = get(&router, "/metrics").await;
    assert_eq!(value(&text, r#"herald_sessions_by_link{link="poll"}"#), 1.0);
    held.abort();
}

/// A cluster of one whose engine can be taken away, as a Redis connection can.
struct Flaky(AtomicBool);

type Taken = BoxFuture<'static, Result<(), ClusterError>>;

impl Cluster for Flaky {
    fn join(&self, _: Inbox) -> Taken {
        Box::pin(async { Ok(()) })
    }

    fn publish(&self, _: &FrozenEvent) -> Taken {
        Box::pin(async { Ok(()) })
    }

    fn interest(&self, _: Interest) -> Taken {
        Box::pin(async { Ok(()) })
    }

    fn is_available(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[tokio::test]
async fn ready_turns_off_while_the_cluster_is_away_and_back_on_when_it_returns() {
    let engine = Arc::new(Flaky(true.into()));
    let herald = Herald::builder().cluster(engine.clone()).build();
    let router = herald.router();
    assert_eq!(get(&router, "/ready").await.0, StatusCode::OK);
    engine.0.store(false, Ordering::Relaxed);
    assert_eq!(
        get(&router, "/ready").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster unavailable".to_owned()
        )
    );
    assert_eq!(get(&router, "/health").await.0, StatusCode::OK);
    let id = client(&router, "/room").await;
    assert!(!id.is_empty(), "its own clients are still served");
    engine.0.store(true, Ordering::Relaxed);
    assert_eq!(get(&router, "/ready").await.0, StatusCode::OK);
}
