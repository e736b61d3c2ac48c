//! The in-memory engine: one process holds every session and subscription.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dashmap::DashMap;
use parking_lot::Mutex;

use super::Engine;
use crate::broker::Broker;
use crate::protocol::{ChannelName, ChannelPattern};
use crate::session::{EndReason, Session};

/// A session and the patterns it holds, so ending it can unsubscribe them all.
#[derive(Debug)]
struct Entry {
    session: Arc<Session>,
    subscriptions: Mutex<HashSet<ChannelPattern>>,
}

/// Sessions in a sharded map (handshakes and look-ups on different shards do not contend),
/// subscriptions in the [`Broker`].
#[derive(Debug)]
pub struct MemoryEngine {
    sessions: DashMap<Box<str>, Entry>,
    broker: Broker,
    next_key: AtomicU64,
    max_queue: usize,
}

impl MemoryEngine {
    /// An empty engine whose sessions queue at most `max_queue` messages (SES-4).
    pub fn new(max_queue: usize) -> Self {
        Self {
            sessions: DashMap::new(),
            broker: Broker::default(),
            next_key: AtomicU64::new(1),
            max_queue,
        }
    }

    fn remove(&self, session: &Session) {
        if let Some((_, entry)) = self.sessions.remove(session.id()) {
            for pattern in entry.subscriptions.lock().drain() {
                self.broker.unsubscribe(session, &pattern);
            }
        }
    }
}

impl Engine for MemoryEngine {
    fn create_session(&self) -> Arc<Session> {
        let id: Box<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(Session::new(id.clone(), key, self.max_queue));
        self.sessions.insert(
            id,
            Entry {
                session: Arc::clone(&session),
                subscriptions: Mutex::default(),
            },
        );
        session
    }

    fn session(&self, client_id: &str) -> Option<Arc<Session>> {
        let entry = self.sessions.get(client_id)?;
        entry
            .session
            .state()
            .is_live()
            .then(|| Arc::clone(&entry.session))
    }

    fn end_session(&self, session: &Session, reason: EndReason) {
        session.end(reason);
        self.remove(session);
    }

    fn subscribe(&self, session: &Arc<Session>, patterns: &[ChannelPattern]) {
        let Some(entry) = self.sessions.get(session.id()) else {
            return;
        };
        let mut held = entry.subscriptions.lock();
        for pattern in patterns {
            if held.insert(pattern.clone()) {
                self.broker.subscribe(session, pattern);
            }
        }
    }

    fn unsubscribe(&self, session: &Session, patterns: &[ChannelPattern]) {
        let Some(entry) = self.sessions.get(session.id()) else {
            return;
        };
        let mut held = entry.subscriptions.lock();
        for pattern in patterns {
            if held.remove(pattern) {
                self.broker.unsubscribe(session, pattern);
            }
        }
    }

    fn publish(&self, channel: &ChannelName, message: Bytes) -> usize {
        let (delivered, overflowed) = self.broker.publish(channel, &message);
        for session in overflowed {
            tracing::warn!(client_id = session.id(), "queue full, ending session");
            self.end_session(&session, EndReason::Overflowed);
        }
        delivered
    }

    fn expire_idle(&self, idle: Duration) -> usize {
        let now = Instant::now();
        let expired: Vec<Arc<Session>> = self
            .sessions
            .iter()
            .filter(|entry| entry.session.is_expired(now, idle))
            .map(|entry| Arc::clone(&entry.session))
            .collect();
        for session in &expired {
            self.end_session(session, EndReason::Expired);
        }
        expired.len()
    }

    fn end_all(&self, reason: EndReason) {
        let all: Vec<Arc<Session>> = self
            .sessions
            .iter()
            .map(|entry| Arc::clone(&entry.session))
            .collect();
        for session in all {
            self.end_session(&session, reason);
        }
    }

    fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> ChannelPattern {
        ChannelPattern::parse(p).unwrap()
    }

    #[test]
    fn ending_a_session_drops_its_subscriptions() {
        let engine = MemoryEngine::new(100);
        let session = engine.create_session();
        engine.subscribe(&session, &[pattern("/a"), pattern("/b/**")]);
        let channel = ChannelName::parse("/b/c").unwrap();
        assert_eq!(engine.publish(&channel, Bytes::from_static(b"m")), 1);
        engine.end_session(&session, EndReason::Disconnected);
        assert_eq!(engine.publish(&channel, Bytes::from_static(b"m")), 0);
        assert!(engine.session(session.id()).is_none());
        assert_eq!(engine.session_count(), 0);
    }

    #[test]
    fn client_ids_are_unique_hex() {
        let engine = MemoryEngine::new(1);
        let a = engine.create_session();
        let b = engine.create_session();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 32);
        assert!(a.id().bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn overflow_ends_the_session() {
        let engine = MemoryEngine::new(2);
        let session = engine.create_session();
        engine.subscribe(&session, &[pattern("/a")]);
        let channel = ChannelName::parse("/a").unwrap();
        for _ in 0..3 {
            engine.publish(&channel, Bytes::from_static(b"m"));
        }
        assert!(engine.session(session.id()).is_none());
    }

    #[test]
    fn idle_sessions_expire() {
        let engine = MemoryEngine::new(1);
        let session = engine.create_session();
        assert_eq!(engine.expire_idle(Duration::from_secs(60)), 0);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(engine.expire_idle(Duration::from_millis(1)), 1);
        assert!(engine.session(session.id()).is_none());
    }
}
