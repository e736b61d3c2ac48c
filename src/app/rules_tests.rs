use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::config::file::{parse, ConfigFile};
use crate::session::Session;

fn rules(toml: &str) -> Rules {
    let (file, source): (ConfigFile, _) = parse(toml.into(), PathBuf::new()).unwrap();
    let reserved = ChannelPattern::parse("/presence/**");
    Rules::from_file(&file.channels, reserved, &source).unwrap()
}

fn session(user: Option<&str>, grants: Option<Grants>) -> ServerSession {
    let session = ServerSession(Arc::new(Session::new(
        "c".into(),
        1,
        crate::session::QueueLimit::messages(10),
        false,
    )));
    if let Some(user) = user {
        session.set_user(user);
    }
    if let Some(grants) = grants {
        session.set_attribute(Arc::new(grants));
    }
    session
}

fn pattern(text: &str) -> ChannelPattern {
    ChannelPattern::parse(text).unwrap()
}

fn name(text: &str) -> ChannelName {
    ChannelName::parse(text).unwrap()
}

const CHAT: &str = r#"
[[channels]]
pattern = "/users/{user}/**"
subscribe = "owner"
publish = "backend"

[[channels]]
pattern = "/news/**"
subscribe = "anyone"
publish = "backend"

[[channels]]
pattern = "/chat/**"
subscribe = "users"
publish = "users"

[[channels]]
pattern = "/vip/**"
subscribe = "token"
publish = "token"
"#;

#[test]
fn personal_channels_belong_to_their_user_alone() {
    let rules = rules(CHAT);
    let ada = session(Some("ada"), None);
    let bob = session(Some("bob"), None);
    assert!(rules.may_subscribe(&ada, &pattern("/users/ada/inbox")));
    assert!(rules.may_subscribe(&ada, &pattern("/users/ada/**")));
    assert!(!rules.may_subscribe(&bob, &pattern("/users/ada/inbox")));
    assert!(!rules.may_subscribe(&session(None, None), &pattern("/users/ada/inbox")));
    // Wildcards reaching other users' channels are refused, whoever asks.
    for wide in ["/users/**", "/**"] {
        assert!(!rules.may_subscribe(&ada, &pattern(wide)), "{wide}");
    }
    assert!(!rules.may_publish(Some(&ada), &name("/users/ada/inbox")));
}

#[test]
fn read_only_and_signed_in_channels() {
    let rules = rules(CHAT);
    let anonymous = session(None, None);
    let ada = session(Some("ada"), None);
    assert!(rules.may_subscribe(&anonymous, &pattern("/news/today")));
    assert!(!rules.may_publish(Some(&ada), &name("/news/today")));
    assert!(!rules.may_publish(None, &name("/news/today")));
    assert!(!rules.may_subscribe(&anonymous, &pattern("/chat/room")));
    assert!(rules.may_subscribe(&ada, &pattern("/chat/*")));
    assert!(rules.may_publish(Some(&ada), &name("/chat/room")));
    // No rule covers it: open to anyone.
    assert!(rules.may_publish(None, &name("/open/x")));
    // Presence events are the server's alone.
    assert!(!rules.may_publish(Some(&ada), &name("/presence/chat/room")));
}

#[test]
fn token_grants_open_token_channels_and_narrow_the_rest() {
    let rules = rules(CHAT);
    let granted = Grants {
        subscribe: Some(vec![pattern("/vip/lounge"), pattern("/chat/a")]),
        publish: None,
    };
    let vip = session(Some("ada"), Some(granted));
    let plain = session(Some("bob"), None);
    assert!(rules.may_subscribe(&vip, &pattern("/vip/lounge")));
    assert!(!rules.may_subscribe(&plain, &pattern("/vip/lounge")));
    assert!(!rules.may_subscribe(&vip, &pattern("/chat/b")), "narrowed");
    assert!(rules.may_subscribe(&vip, &pattern("/chat/a")));
    assert!(
        !rules.may_publish(Some(&vip), &name("/vip/lounge")),
        "no grant"
    );
}

#[test]
fn rule_patterns_cover_and_overlap_like_channel_sets() {
    let rule = |text| RulePattern::parse(text).unwrap();
    let patterns: Vec<_> = ["/a/*", "/a/b/**", "/a", "/a/**", "/ada/x", "/b/*", "/x"]
        .into_iter()
        .map(pattern)
        .collect();
    let target = |text: &str| {
        let found = patterns.iter().find(|p| p.as_str() == text).unwrap();
        Target::of(found)
    };
    assert!(rule("/a/**").covers(&target("/a/*")));
    assert!(rule("/a/**").covers(&target("/a/b/**")));
    assert!(!rule("/a/**").covers(&target("/a")));
    assert!(!rule("/a/*").covers(&target("/a/**")));
    assert!(rule("/{user}/x").covers(&target("/ada/x")));
    assert!(rule("/a/b").overlaps(&target("/a/*")));
    assert!(rule("/a/b/c").overlaps(&target("/a/**")));
    assert!(!rule("/a/b/c").overlaps(&target("/a/*")));
    assert!(!rule("/a/**").overlaps(&target("/a")));
    assert!(rule("/**").overlaps(&target("/x")));
    assert!(!rule("/a/*").overlaps(&target("/b/*")));
}

#[test]
fn bad_rules_are_reported_by_line() {
    let toml = "[[channels]]\npattern = \"/a/**/b\"\n\n[[channels]]\npattern = \"/a\"\nsubscribe = \"owner\"\n";
    let (file, source): (ConfigFile, _) = parse(toml.into(), PathBuf::new()).unwrap();
    let errors = Rules::from_file(&file.channels, None, &source).unwrap_err();
    let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 5]);
}
