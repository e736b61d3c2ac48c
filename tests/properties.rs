//! Property tests (issue 11): channel matching and the subscription index against a naive
//! matcher written from the spec (CH-2), and message parsing, JSONP and form decoding fed
//! arbitrary input, which must get an answer, never a panic or a 5xx.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use tower::ServiceExt;

use herald::broker::SubscriptionIndex;
use herald::protocol::{parse_batch, ChannelName, ChannelPattern};
use herald::Herald;

/// CH-2 read literally: `*` matches exactly one more segment, `**` one or more.
fn naive_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<&str> = pattern[1..].split('/').collect();
    let name: Vec<&str> = name[1..].split('/').collect();
    match pattern.split_last() {
        Some((&"**", base)) => name.len() > base.len() && name[..base.len()] == *base,
        Some((&"*", base)) => name.len() == base.len() + 1 && name[..base.len()] == *base,
        _ => pattern == name,
    }
}

fn segment() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "chat", "x1"]).prop_map(str::to_owned)
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..5).prop_map(|segments| format!("/{}", segments.join("/")))
}

fn pattern() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 0..4), 0..3usize).prop_map(|(segments, wildcard)| {
        let mut parts = segments;
        match wildcard {
            1 => parts.push("*".into()),
            2 => parts.push("**".into()),
            _ if parts.is_empty() => parts.push("a".into()),
            _ => {}
        }
        format!("/{}", parts.join("/"))
    })
}

proptest! {
    #[test]
    fn matching_agrees_with_the_naive_matcher(pattern in pattern(), name in name()) {
        let parsed = ChannelPattern::parse(&pattern).unwrap();
        let channel = ChannelName::parse(&name).unwrap();
        prop_assert_eq!(parsed.matches(&channel), naive_matches(&pattern, &name));
    }

    #[test]
    fn a_pattern_that_covers_another_matches_all_it_matches(
        a in pattern(),
        b in pattern(),
        names in prop::collection::vec(name(), 1..20),
    ) {
        let (pa, pb) = (ChannelPattern::parse(&a).unwrap(), ChannelPattern::parse(&b).unwrap());
        if pa.covers(&pb) {
            for n in &names {
                let channel = ChannelName::parse(n).unwrap();
                prop_assert!(!pb.matches(&channel) || pa.matches(&channel), "{a} covers {b} but not {n}");
            }
        }
    }

    #[test]
    fn the_index_finds_exactly_the_naive_subscribers(
        patterns in prop::collection::vec(pattern(), 1..12),
        names in prop::collection::vec(name(), 1..12),
    ) {
        let mut index = SubscriptionIndex::default();
        for (key, p) in patterns.iter().enumerate() {
            index.insert(&ChannelPattern::parse(p).unwrap(), key as u64, ());
        }
        for n in &names {
            let channel = ChannelName::parse(n).unwrap();
            let mut found: Vec<u64> = index.matching(&channel).into_iter().flat_map(|set| set.keys().copied()).collect();
            found.sort_unstable();
            found.dedup();
            let expected: Vec<u64> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| naive_matches(p, n))
                .map(|(key, _)| key as u64)
                .collect();
            prop_assert_eq!(found, expected, "subscribers of {}", n);
        }
    }

    #[test]
    fn parsing_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_batch(&bytes);
    }

    #[test]
    fn parsing_message_shaped_json_never_panics(
        channel in prop::option::of("[/a-z*]{0,12}"),
        client_id in prop::option::of(prop_oneof![Just(serde_json::json!(1)), "[a-f0-9]{0,8}".prop_map(serde_json::Value::from)]),
        extra in prop::collection::vec(("[a-zA-Z]{1,12}", any::<i32>()), 0..4),
    ) {
        let mut message = serde_json::Map::new();
        if let Some(channel) = channel {
            message.insert("channel".into(), channel.into());
        }
        if let Some(id) = client_id {
            message.insert("clientId".into(), id);
        }
        for (key, value) in extra {
            message.insert(key, value.into());
        }
        let text = serde_json::Value::Array(vec![message.into()]).to_string();
        prop_assert!(parse_batch(text.as_bytes()).is_ok(), "{text}");
    }
}

/// Every JSONP or form request, whatever it holds, gets an answer below 500.
fn answered(requests: Vec<Request<Body>>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let router = Herald::builder().build().router();
        for request in requests {
            let status = router.clone().oneshot(request).await.unwrap().status();
            prop_assert!(status < StatusCode::INTERNAL_SERVER_ERROR, "{status}");
        }
        Ok(())
    })
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn jsonp_and_forms_of_anything_are_answered(message in ".{0,64}", callback in ".{0,24}") {
        let (message, callback) = (encode(&message), encode(&callback));
        let jsonp = Request::get(format!("/cometd?message={message}&jsonp={callback}"))
            .body(Body::empty())
            .unwrap();
        let form = Request::post("/cometd")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("message={message}")))
            .unwrap();
        answered(vec![jsonp, form])?;
    }
}

/// A message-shaped object: any of the channels a client may name, with fields that are
/// echoed back (`id`, `subscription`) or not, of any size.
fn message() -> impl Strategy<Value = serde_json::Value> {
    let channel = prop_oneof![
        Just("/meta/handshake".to_owned()),
        Just("/meta/connect".to_owned()),
        Just("/meta/subscribe".to_owned()),
        Just("/meta/unsubscribe".to_owned()),
        Just("/meta/disconnect".to_owned()),
        Just("/meta/unknown".to_owned()),
        "[/a-z*:,]{0,40}",
    ];
    (
        prop::option::of(channel),
        prop::option::of("[ -~]{0,40}"),
        prop::option::of(prop_oneof![
            "[ -~]{0,60}".prop_map(serde_json::Value::from),
            prop::collection::vec("[/a-z*]{0,20}", 0..8).prop_map(serde_json::Value::from),
        ]),
        prop::option::of("[a-z0-9]{0,40}"),
        prop::option::of(prop::collection::vec("[ -~]{0,20}", 0..4)),
    )
        .prop_map(|(channel, id, subscription, client_id, types)| {
            let mut message = serde_json::Map::new();
            let mut put = |key: &str, value: Option<serde_json::Value>| {
                if let Some(value) = value {
                    message.insert(key.into(), value);
                }
            };
            put("channel", channel.map(Into::into));
            put("id", id.map(Into::into));
            put("subscription", subscription);
            put("clientId", client_id.map(Into::into));
            put("supportedConnectionTypes", types.map(Into::into));
            put("data", Some(serde_json::json!(1)));
            message.into()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// LIM-14: whatever a request holds, the replies to its own messages are at most
    /// twice its size plus 512 bytes per message.
    #[test]
    fn replies_are_bounded_by_the_request(batch in prop::collection::vec(message(), 1..20)) {
        let body = serde_json::Value::Array(batch.clone()).to_string();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let answer = runtime.block_on(async {
            let router = Herald::builder().build().router();
            let request = Request::post("/cometd")
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes()
        });
        let bound = 2 * body.len() + 512 * batch.len();
        prop_assert!(answer.len() <= bound, "{} bytes of replies to {} bytes: {}", answer.len(), body.len(), String::from_utf8_lossy(&answer));
    }
}
