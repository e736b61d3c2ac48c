//! The hub: this node's sessions, their subscriptions and fan-out to them.
//!
//! Everything here is node-local and synchronous; what crosses nodes goes through
//! [`crate::cluster`]. Sessions live in a sharded map (handshakes and look-ups on different
//! shards do not contend), subscriptions in the [`Broker`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::broker::Broker;
use crate::protocol::{ChannelName, ChannelPattern, FrozenEvent};
use crate::session::{Census, QueueLimit, Session};

/// A session and the patterns it holds, so ending it can unsubscribe them all.
#[derive(Debug)]
struct Entry {
    session: Arc<Session>,
    subscriptions: Mutex<HashSet<ChannelPattern>>,
}

/// What one sweep found.
#[derive(Debug, Default)]
pub struct Swept {
    /// Sessions nobody connected for (SES-2).
    pub expired: Vec<Arc<Session>>,
    /// Sessions whose client stopped reading its stream (LIM-4).
    pub stalled: Vec<Arc<Session>>,
}

/// This node's sessions and subscriptions.
#[derive(Debug)]
pub struct Hub {
    sessions: DashMap<Box<str>, Entry>,
    /// The sessions of each signed-in user (all tabs, any transport).
    users: DashMap<Arc<str>, Vec<Arc<Session>>>,
    broker: Broker,
    next_key: AtomicU64,
    limit: QueueLimit,
}

impl Hub {
    /// An empty hub whose sessions queue at most `limit` (SES-4, LIM-8).
    pub fn new(limit: QueueLimit) -> Self {
        Self {
            sessions: DashMap::new(),
            users: DashMap::new(),
            broker: Broker::default(),
            next_key: AtomicU64::new(1),
            limit,
        }
    }

    /// A new handshaken session with a fresh, unguessable client id (HS-2), not yet known
    /// to anyone: [`Hub::add`] makes it so once the handshake is allowed.
    pub fn new_session(&self, local: bool) -> Arc<Session> {
        let id: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        Arc::new(Session::new(id, key, self.limit, local))
    }

    /// Makes a session known, so messages naming its id reach it.
    pub fn add(&self, session: &Arc<Session>) {
        if let Some(user) = session.user() {
            self.users
                .entry(Arc::clone(user))
                .or_default()
                .push(Arc::clone(session));
        }
        self.sessions.insert(
            session.id().into(),
            Entry {
                session: Arc::clone(session),
                subscriptions: Mutex::default(),
            },
        );
    }

    /// The live session with this id.
    pub fn session(&self, client_id: &str) -> Option<Arc<Session>> {
        let entry = self.sessions.get(client_id)?;
        entry
            .session
            .state()
            .is_live()
            .then(|| Arc::clone(&entry.session))
    }

    /// Forgets a session (already ended) and drops its subscriptions; returns them, in no
    /// particular order. `last` runs for each pattern that lost its last subscriber.
    pub fn remove(
        &self,
        session: &Session,
        mut last: impl FnMut(&ChannelPattern),
    ) -> Vec<ChannelPattern> {
        let Some((_, entry)) = self.sessions.remove(session.id()) else {
            return Vec::new();
        };
        if let Some(user) = session.user() {
            self.users.remove_if_mut(user, |_, sessions| {
                sessions.retain(|other| other.key() != session.key());
                sessions.is_empty()
            });
        }
        let patterns: Vec<_> = entry.subscriptions.lock().drain().collect();
        for pattern in &patterns {
            self.broker.unsubscribe(session, pattern, || last(pattern));
        }
        patterns
    }

    /// The live sessions of `user` on this node.
    pub fn sessions_of(&self, user: &str) -> Vec<Arc<Session>> {
        self.users
            .get(user)
            .map(|sessions| sessions.clone())
            .unwrap_or_default()
    }

    /// Every pattern with subscribers on this node and how many it has.
    pub fn subscription_counts(&self) -> Vec<(String, usize)> {
        self.broker.counts()
    }

    /// How many patterns a session would hold with `patterns` added.
    pub fn subscriptions_with<'p>(
        &self,
        session: &Session,
        patterns: impl Iterator<Item = &'p ChannelPattern>,
    ) -> usize {
        let Some(entry) = self.sessions.get(session.id()) else {
            return 0;
        };
        let held = entry.subscriptions.lock();
        let mut new: Vec<&ChannelPattern> = Vec::new();
        for pattern in patterns {
            if !held.contains(pattern) && !new.contains(&pattern) {
                new.push(pattern);
            }
        }
        held.len() + new.len()
    }

    /// Subscribes a session to `pattern`: `Some(false)` if it already was, `None` if it
    /// holds `limit` patterns already (LIM-6). `first` runs when the pattern gets its first
    /// subscriber on this node (see [`Broker::subscribe`]).
    pub fn subscribe(
        &self,
        session: &Arc<Session>,
        pattern: &ChannelPattern,
        limit: usize,
        first: impl FnOnce(),
    ) -> Option<bool> {
        let Some(entry) = self.sessions.get(session.id()) else {
            return Some(false);
        };
        let mut held = entry.subscriptions.lock();
        if held.contains(pattern) {
            return Some(false);
        }
        if held.len() >= limit {
            return None;
        }
        held.insert(pattern.clone());
        Some(self.broker.subscribe(session, pattern, first))
    }

    /// Unsubscribes a session from `pattern`; `false` if it was not subscribed. `last` runs
    /// when the pattern loses its last subscriber on this node.
    pub fn unsubscribe(
        &self,
        session: &Session,
        pattern: &ChannelPattern,
        last: impl FnOnce(),
    ) -> bool {
        let Some(entry) = self.sessions.get(session.id()) else {
            return false;
        };
        let mut held = entry.subscriptions.lock();
        held.remove(pattern) && self.broker.unsubscribe(session, pattern, last)
    }

    /// Whether some session subscribes to exactly `pattern` on this node.
    pub fn has_subscribers(&self, pattern: &ChannelPattern) -> bool {
        self.broker.has_subscribers(pattern)
    }

    /// Queues `event` for every subscriber of `channel` on this node; returns how many got
    /// it and the sessions whose queue overflowed, for the caller to end (SES-4).
    pub fn publish(
        &self,
        channel: &ChannelName,
        event: &FrozenEvent,
    ) -> (usize, Vec<Arc<Session>>) {
        self.broker.publish(channel, event)
    }

    /// The sessions idle longer than `idle` (SES-2), and those whose push stream took
    /// nothing for `stall` while messages waited (LIM-4), for the caller to end.
    pub fn swept(&self, idle: Duration, stall: Duration) -> Swept {
        let now = Instant::now();
        let mut swept = Swept::default();
        for entry in self.sessions.iter() {
            let session = &entry.session;
            if session.is_expired(now, idle) {
                swept.expired.push(Arc::clone(session));
            } else if session.is_stalled(now, stall) {
                swept.stalled.push(Arc::clone(session));
            }
        }
        swept
    }

    /// How many sessions are live.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Every session counted: one pass, each session's lock taken for a moment.
    pub fn census(&self) -> Census {
        let mut census = Census::default();
        for entry in self.sessions.iter() {
            census.count(&entry.session);
        }
        census
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Event;
    use crate::session::{Claim, EndReason, StreamKind};
    use serde_json::value::RawValue;

    fn pattern(p: &str) -> ChannelPattern {
        ChannelPattern::parse(p).unwrap()
    }

    fn event(channel: &ChannelName) -> FrozenEvent {
        Event::new(channel.clone(), RawValue::from_string("1".into()).unwrap()).freeze()
    }

    #[test]
    fn removing_a_session_drops_its_subscriptions() {
        let hub = Hub::new(QueueLimit::messages(100));
        let session = hub.new_session(false);
        assert!(
            hub.session(session.id()).is_none(),
            "not known before it is added"
        );
        hub.add(&session);
        hub.subscribe(&session, &pattern("/a"), 10, || {});
        hub.subscribe(&session, &pattern("/b/**"), 10, || {});
        let channel = ChannelName::parse("/b/c").unwrap();
        assert_eq!(hub.publish(&channel, &event(&channel)).0, 1);
        session.end(EndReason::Disconnected);
        let mut lost = Vec::new();
        let mut removed = hub.remove(&session, |p| lost.push(p.clone()));
        removed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(removed, [pattern("/a"), pattern("/b/**")]);
        assert_eq!(lost.len(), 2);
        assert_eq!(hub.publish(&channel, &event(&channel)).0, 0);
        assert!(hub.session(session.id()).is_none());
        assert_eq!(hub.session_count(), 0);
    }

    #[test]
    fn a_user_reaches_each_of_their_sessions_until_it_is_removed() {
        let hub = Hub::new(QueueLimit::messages(10));
        let tabs: Vec<_> = (0..2).map(|_| hub.new_session(false)).collect();
        let other = hub.new_session(false);
        for (session, user) in [(&tabs[0], "ada"), (&tabs[1], "ada"), (&other, "bob")] {
            session.set_user(user.into());
            hub.add(session);
        }
        let ids = |user| -> Vec<String> {
            let mut ids: Vec<_> = hub
                .sessions_of(user)
                .iter()
                .map(|s| s.id().to_owned())
                .collect();
            ids.sort();
            ids
        };
        let mut expected: Vec<_> = tabs.iter().map(|s| s.id().to_owned()).collect();
        expected.sort();
        assert_eq!(ids("ada"), expected);
        hub.remove(&tabs[0], |_| {});
        assert_eq!(ids("ada"), [tabs[1].id().to_owned()]);
        hub.remove(&tabs[1], |_| {});
        assert!(ids("ada").is_empty());
        assert_eq!(ids("bob"), [other.id().to_owned()]);
    }

    #[test]
    fn client_ids_are_unique_hex() {
        let hub = Hub::new(QueueLimit::messages(1));
        let a = hub.new_session(false);
        let b = hub.new_session(false);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 32);
        assert!(a.id().bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn overflowing_sessions_are_returned() {
        let hub = Hub::new(QueueLimit::messages(2));
        let session = hub.new_session(false);
        hub.add(&session);
        hub.subscribe(&session, &pattern("/a"), 10, || {});
        let channel = ChannelName::parse("/a").unwrap();
        let overflowed: usize = (0..3)
            .map(|_| hub.publish(&channel, &event(&channel)).1.len())
            .sum();
        assert_eq!(overflowed, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_sessions_expire() {
        let hub = Hub::new(QueueLimit::messages(1));
        let session = hub.new_session(false);
        hub.add(&session);
        let sweep = |idle| hub.swept(idle, Duration::from_secs(60));
        assert!(sweep(Duration::from_secs(60)).expired.is_empty());
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(sweep(Duration::from_millis(1)).expired.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_takes_nothing_while_messages_wait_is_stalled() {
        let hub = Hub::new(QueueLimit::messages(100));
        let channel = ChannelName::parse("/a").unwrap();
        let session = hub.new_session(false);
        hub.add(&session);
        hub.subscribe(&session, &ChannelPattern::from(channel.clone()), 10, || ());
        let stream = session.attach_stream(StreamKind::Downstream);
        let limit = Duration::from_secs(2);
        let stalled = |hub: &Hub| hub.swept(Duration::from_secs(60), limit).stalled.len();
        // Nothing waiting: never stalled, however long the stream is quiet.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(stalled(&hub), 0);
        hub.publish(&channel, &event(&channel));
        assert_eq!(stalled(&hub), 0, "first seen waiting");
        tokio::time::advance(Duration::from_secs(1)).await;
        session.take(Claim::Stream(stream));
        hub.publish(&channel, &event(&channel));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(stalled(&hub), 0, "it took something since: a fresh start");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(stalled(&hub), 0, "within the limit");
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(stalled(&hub), 1);
    }
}
