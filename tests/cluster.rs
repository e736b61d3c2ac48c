//! Three herald nodes in one process, joined by the in-process cluster: a publish made on
//! one node reaches the subscribers on the others, wildcards included, exactly once each
//! and in order, and only nodes with subscribers for the channel receive it.

use std::time::Duration;

use serde_json::{json, Value};

use herald::{Config, Herald, InProcessCluster};

mod common;
use common::{client, connect, post};

fn node(cluster: &InProcessCluster) -> Herald {
    let config = Config {
        timeout: Duration::from_millis(2_000),
        ..Config::default()
    };
    Herald::builder()
        .config(config)
        .cluster(cluster.node())
        .build()
}

/// The `data` of the events a connect delivered.
fn data_of(response: &Value) -> Vec<Value> {
    response
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m.get("successful").is_none())
        .map(|m| m["data"].clone())
        .collect()
}

#[tokio::test]
async fn a_publish_on_one_node_reaches_subscribers_on_the_others_once_each() {
    let cluster = InProcessCluster::default();
    let (a, b, c, idle) = (
        node(&cluster),
        node(&cluster),
        node(&cluster),
        node(&cluster),
    );
    let (router_a, router_b) = (a.router(), b.router());

    // Node B: a long-polling client on a wildcard. Node C: server-side sessions on a deep
    // wildcard, on the exact channel, and one on both. Node A: the publisher, subscribed
    // too. The fourth node has no subscriber at all.
    let on_b = client(&router_b, "/game/*").await;
    let mut deep = c.local_session().await.unwrap();
    deep.subscribe("/game/**").await.unwrap();
    let mut exact = c.local_session().await.unwrap();
    exact.subscribe("/game/1").await.unwrap();
    let mut both = c.local_session().await.unwrap();
    both.subscribe("/game/*").await.unwrap();
    both.subscribe("/game/1").await.unwrap();
    let publisher = client(&router_a, "/game/1").await;

    for n in 1..=3 {
        let (_, reply) = post(
            &router_a,
            json!({"channel":"/game/1","clientId":publisher,"data":n}),
        )
        .await;
        assert_eq!(reply[0]["successful"], true);
    }

    let expected = [json!(1), json!(2), json!(3)];
    assert_eq!(
        data_of(&connect(&router_a, &publisher).await),
        expected,
        "node A"
    );
    let mut on_b_got = Vec::new();
    while on_b_got.len() < 3 {
        let got = data_of(&connect(&router_b, &on_b).await);
        assert!(
            !got.is_empty(),
            "node B's client is still missing messages: {on_b_got:?}"
        );
        on_b_got.extend(got);
    }
    assert_eq!(on_b_got, expected, "node B, through /game/*");
    for (name, session) in [
        ("/game/**", &mut deep),
        ("/game/1", &mut exact),
        ("both", &mut both),
    ] {
        for n in 1..=3 {
            let event = session.recv().await.unwrap();
            assert_eq!(event.data_json(), n.to_string(), "node C, {name}");
        }
        let more = tokio::time::timeout(Duration::from_millis(200), session.recv()).await;
        assert!(more.is_err(), "node C, {name}: exactly once");
    }
    // Interest-based routing: B and C got each message once, the idle node nothing.
    assert_eq!(cluster.received(), [0, 3, 3, 0]);
    drop(idle);

    // A server-side publish on C reaches B's client too.
    let data = serde_json::value::RawValue::from_string("\"from C\"".into()).unwrap();
    assert_eq!(
        c.publish("/game/2", &data).unwrap(),
        2,
        "C's own /game/** and /game/* sessions"
    );
    assert_eq!(data_of(&connect(&router_b, &on_b).await), [json!("from C")]);
}

#[tokio::test]
async fn a_node_stops_receiving_when_its_last_subscriber_leaves() {
    let cluster = InProcessCluster::default();
    let (a, b) = (node(&cluster), node(&cluster));
    let subscriber = b.local_session().await.unwrap();
    subscriber.subscribe("/news").await.unwrap();
    let data = serde_json::value::RawValue::from_string("1".into()).unwrap();
    a.publish("/news", &data).unwrap();
    subscriber.unsubscribe("/news").await.unwrap();
    a.publish("/news", &data).unwrap();
    assert_eq!(cluster.received(), [0, 1]);
}
