use std::time::Duration;

use serde_json::value::RawValue;

use super::*;
use crate::protocol::{ChannelName, Event};

fn session() -> Session {
    Session::new(
        "c1".into(),
        1,
        crate::session::QueueLimit::messages(3),
        false,
    )
}

fn event(n: u32) -> FrozenEvent {
    let data = RawValue::from_string(n.to_string()).unwrap();
    Event::new(ChannelName::parse("/a").unwrap(), data).freeze()
}

/// The data of what `claim` takes, in order.
fn take(s: &Session, claim: Claim) -> Vec<String> {
    s.take(claim)
        .events
        .iter()
        .map(|e| e.data_json().to_owned())
        .collect()
}

#[tokio::test]
async fn queued_messages_wake_the_held_connect_in_order() {
    let s = session();
    let ticket = s.begin_connect(true).unwrap();
    assert!(ticket.first);
    assert_eq!(s.deliver(event(1)), Delivery::Queued);
    assert_eq!(s.deliver(event(2)), Delivery::Queued);
    assert_eq!(s.wait_connect(ticket).await, Wake::Messages);
    assert_eq!(take(&s, Claim::Connect(ticket)), ["1", "2"]);
}

#[tokio::test]
async fn a_newer_connect_supersedes_the_held_one() {
    let s = session();
    let old = s.begin_connect(true).unwrap();
    let new = s.begin_connect(true).unwrap();
    assert!(!new.first);
    assert_eq!(s.wait_connect(old).await, Wake::Superseded);
    s.deliver(event(1));
    assert!(take(&s, Claim::Connect(old)).is_empty());
    assert_eq!(take(&s, Claim::Connect(new)).len(), 1);
}

#[tokio::test]
async fn an_attached_stream_delivers_and_connects_only_beat() {
    let s = session();
    let connect = s.begin_connect(false).unwrap();
    let stream = s.attach_stream(StreamKind::Duplex);
    s.deliver(event(1));
    assert_eq!(s.wait_stream(stream).await, Wake::Messages);
    assert!(!s.has_messages_for_connect());
    assert!(take(&s, Claim::Connect(connect)).is_empty());
    assert_eq!(take(&s, Claim::Stream(stream)), ["1"]);
    // A poll takes over from a duplex stream: the client has moved.
    let poll = s.begin_connect(true).unwrap();
    assert_eq!(s.wait_stream(stream).await, Wake::Superseded);
    s.deliver(event(2));
    assert_eq!(take(&s, Claim::Connect(poll)), ["2"]);
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_connect_never_takes_messages() {
    let s = session();
    let heartbeat = s.begin_connect(false).unwrap();
    let stream = s.attach_stream(StreamKind::Duplex);
    s.detach_stream(stream);
    s.deliver(event(1));
    let waited = tokio::time::timeout(Duration::from_millis(20), s.wait_connect(heartbeat));
    assert!(waited.await.is_err(), "a heartbeat woke for a message");
    assert!(take(&s, Claim::Connect(heartbeat)).is_empty());
    let poll = s.begin_connect(true).unwrap();
    assert_eq!(take(&s, Claim::Connect(poll)), ["1"]);
}

#[tokio::test]
async fn polls_leave_a_downstream_stream_delivering() {
    let s = session();
    let stream = s.attach_stream(StreamKind::Downstream);
    let poll = s.begin_connect(true).unwrap();
    s.deliver(event(1));
    assert_eq!(s.wait_stream(stream).await, Wake::Messages);
    assert!(take(&s, Claim::Connect(poll)).is_empty());
    assert_eq!(take(&s, Claim::Stream(stream)), ["1"]);
}

#[tokio::test]
async fn a_detached_stream_leaves_messages_for_the_next_connect() {
    let s = session();
    let stream = s.attach_stream(StreamKind::Duplex);
    s.detach_stream(stream);
    s.deliver(event(1));
    assert!(take(&s, Claim::Stream(stream)).is_empty());
    let connect = s.begin_connect(true).unwrap();
    assert_eq!(take(&s, Claim::Connect(connect)), ["1"]);
}

#[tokio::test]
async fn ending_wakes_and_refuses_connects() {
    let s = session();
    let ticket = s.begin_connect(true).unwrap();
    assert!(s.end(EndReason::Disconnected));
    assert!(!s.end(EndReason::Expired));
    assert_eq!(
        s.wait_connect(ticket).await,
        Wake::Ended(EndReason::Disconnected)
    );
    assert!(s.begin_connect(true).is_none());
}

#[test]
fn overflow_is_reported() {
    let s = session();
    for n in 0..3 {
        assert_eq!(s.deliver(event(n)), Delivery::Queued);
    }
    assert_eq!(s.deliver(event(3)), Delivery::Overflow);
}

#[tokio::test(start_paused = true)]
async fn expiry_needs_no_held_connect_and_no_stream() {
    let s = session();
    let idle = Duration::from_secs(1);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(s.is_expired(Instant::now(), idle));
    let ticket = s.begin_connect(true).unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(!s.is_expired(Instant::now(), idle));
    s.end_connect(ticket);
    let stream = s.attach_stream(StreamKind::Duplex);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(!s.is_expired(Instant::now(), idle));
    s.detach_stream(stream);
    assert!(!s.is_expired(Instant::now(), idle));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(s.is_expired(Instant::now(), idle));
}

#[tokio::test]
async fn acknowledged_delivery_sends_again_what_was_not_acknowledged() {
    let s = session();
    s.enable_acknowledged_delivery();
    let first = s.begin_connect(true).unwrap();
    s.deliver(event(1));
    let taken = s.take(Claim::Connect(first));
    assert_eq!(taken.batch, Some(1));
    s.end_connect(first);
    // The reply was lost: the next connect acknowledges nothing, and is answered at once.
    s.acknowledge(0);
    assert!(s.has_messages_for_connect());
    let second = s.begin_connect(true).unwrap();
    assert_eq!(take(&s, Claim::Connect(second)), ["1"]);
    s.acknowledge(2);
    assert!(!s.has_messages_for_connect());
}
