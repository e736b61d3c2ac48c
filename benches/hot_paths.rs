//! Micro-benchmarks of the hot paths: finding the subscribers of a channel among 100k
//! subscriptions, serializing an event and a response, a session queue's push/drain, and
//! one long-polling exchange through the router (everything herald does for a request
//! between hyper and the socket).
//!
//! Run with `cargo bench --bench hot_paths`.

use std::hint::black_box;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::BodyExt;
use serde_json::value::RawValue;
use tower::ServiceExt;

use herald::broker::SubscriptionIndex;
use herald::protocol::{
    events_json, Advice, ChannelName, ChannelPattern, Event, MessageId, Meta, Reconnect, Reply,
};
use herald::session::{Claim, Session};
use herald::{Config, Herald};

/// 100,000 subscriptions: 10,000 rooms with 9 exact subscribers each, plus one wildcard
/// subscriber per room (`/room/<n>/*` or `/room/<n>/**`).
fn index_with_100k() -> SubscriptionIndex<()> {
    let mut index = SubscriptionIndex::default();
    let mut key = 0;
    for room in 0..10_000 {
        let exact = ChannelPattern::parse(&format!("/room/{room}/chat")).unwrap();
        for _ in 0..9 {
            index.insert(&exact, key, ());
            key += 1;
        }
        let wild = if room % 2 == 0 {
            format!("/room/{room}/*")
        } else {
            format!("/room/{room}/**")
        };
        index.insert(&ChannelPattern::parse(&wild).unwrap(), key, ());
        key += 1;
    }
    index
}

fn matching(c: &mut Criterion) {
    let index = index_with_100k();
    let channel = ChannelName::parse("/room/4242/chat").unwrap();
    c.bench_function(
        "index: subscribers of one channel among 100k subscriptions",
        |b| {
            b.iter(|| {
                let sets = index.matching(black_box(&channel));
                black_box(sets.iter().map(|set| set.len()).sum::<usize>())
            })
        },
    );
}

fn serialization(c: &mut Criterion) {
    let channel = ChannelName::parse("/room/42/chat").unwrap();
    let data = RawValue::from_string(
        r#"{"user":"someone","text":"a chat line of a typical length, fifty bytes or so"}"#.into(),
    )
    .unwrap();
    c.bench_function("event: serialize one broadcast", |b| {
        b.iter(|| Event::new(black_box(&channel).clone(), black_box(&data).clone()).freeze())
    });
    let advice = Advice {
        reconnect: Reconnect::Retry,
        interval: 0,
        timeout: Some(30_000),
        max_interval: None,
        multiple_clients: None,
    };
    let id = MessageId::number(17);
    let client_id: std::sync::Arc<str> = "0123456789abcdef0123456789abcdef".into();
    c.bench_function("reply: serialize a connect reply", |b| {
        b.iter(|| {
            let reply = Reply::ok(Meta::Connect, Some(id.clone()))
                .client_id(client_id.clone())
                .advice(advice);
            // As a response writes it: into a buffer sized for it.
            let mut json = Vec::with_capacity(160);
            reply.write_json(&mut json);
            json
        })
    });
    let events: Vec<_> = (0..100)
        .map(|_| Event::new(channel.clone(), data.clone()).freeze())
        .collect();
    let mut group = c.benchmark_group("response");
    group.throughput(Throughput::Elements(100));
    group.bench_function("concatenate 100 events into one array", |b| {
        b.iter(|| events_json(black_box(&events)))
    });
    group.finish();
}

fn queue(c: &mut Criterion) {
    let limit = herald::session::QueueLimit::messages(100_000);
    let session = Session::new("0123456789abcdef0123456789abcdef".into(), 1, limit, false);
    let message = Event::new(
        ChannelName::parse("/a").unwrap(),
        RawValue::from_string("1".into()).unwrap(),
    )
    .freeze();
    let mut group = c.benchmark_group("queue");
    group.throughput(Throughput::Elements(100));
    group.bench_function("push 100 then drain", |b| {
        b.iter(|| {
            for _ in 0..100 {
                session.deliver(message.clone());
            }
            let ticket = session.begin_connect(true).unwrap();
            let drained = session.take(Claim::Connect(ticket));
            session.end_connect(ticket);
            black_box(drained.events.len())
        })
    });
    group.finish();
}

/// A POST of `body` to the endpoint, as a Node client (no `Origin`) or a browser sends it.
fn post(body: String, origin: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/cometd").header(header::CONTENT_TYPE, "application/json");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    request.body(Body::from(body)).unwrap()
}

fn exchange(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let herald = Herald::new(Config::default());
    let router = herald.router();
    let call = |request: Request<Body>| {
        runtime.block_on(async {
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.into_body().collect().await.unwrap().to_bytes()
        })
    };
    let handshake = call(post(
        r#"[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]"#.into(),
        None,
    ));
    let reply: serde_json::Value = serde_json::from_slice(&handshake).unwrap();
    let client_id = reply[0]["clientId"].as_str().unwrap().to_owned();
    let publish = format!(
        r#"[{{"channel":"/bench/x","clientId":"{client_id}","id":"5","data":{{"t":1,"pad":"{}"}}}}]"#,
        "x".repeat(50)
    );
    let mut group = c.benchmark_group("exchange");
    for (name, origin) in [("no Origin", None), ("with Origin", Some("http://a.test"))] {
        group.bench_function(
            format!("a long-polling publish and its reply, {name}"),
            |b| b.iter(|| call(post(publish.clone(), origin))),
        );
    }
    group.finish();
}

criterion_group!(benches, matching, serialization, queue, exchange);
criterion_main!(benches);
