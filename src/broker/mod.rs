//! The broker: who is subscribed to what, and fan-out of a published message to them.
//!
//! A publish is frozen (serialized) once by the caller and reaches every subscriber as a
//! clone of the same [`FrozenEvent`] (a reference count, not a copy). The index is behind a
//! read-write lock: publishes share it, only (un)subscribes take it exclusively, and no lock
//! is held while a session is ended.

mod index;

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::protocol::{ChannelName, ChannelPattern, FrozenEvent};
use crate::session::{Delivery, Session};

pub use index::SubscriptionIndex;

/// The subscription index and fan-out, shared by every request.
#[derive(Debug, Default)]
pub struct Broker {
    index: RwLock<SubscriptionIndex<Arc<Session>>>,
}

impl Broker {
    /// Subscribes `session` to `pattern`; `false` if it already was. `first` runs, under
    /// the index's lock, when the pattern gets its first subscriber: whoever tracks which
    /// patterns this node has subscribers for (the cluster) hears of changes in the order
    /// they happened.
    pub fn subscribe(
        &self,
        session: &Arc<Session>,
        pattern: &ChannelPattern,
        first: impl FnOnce(),
    ) -> bool {
        let mut index = self.index.write();
        match index.insert(pattern, session.key(), Arc::clone(session)) {
            None => false,
            Some(is_first) => {
                if is_first {
                    first();
                }
                true
            }
        }
    }

    /// Unsubscribes `session` from `pattern`; `false` if it was not subscribed. `last` runs,
    /// under the index's lock, when the pattern loses its last subscriber.
    pub fn unsubscribe(
        &self,
        session: &Session,
        pattern: &ChannelPattern,
        last: impl FnOnce(),
    ) -> bool {
        let mut index = self.index.write();
        match index.remove(pattern, session.key()) {
            None => false,
            Some(is_last) => {
                if is_last {
                    last();
                }
                true
            }
        }
    }

    /// Whether someone subscribes to exactly `pattern` (the channel "exists").
    pub fn has_subscribers(&self, pattern: &ChannelPattern) -> bool {
        self.index.read().has_subscribers(pattern)
    }

    /// Every pattern with subscribers on this node and how many it has.
    pub fn counts(&self) -> Vec<(String, usize)> {
        self.index.read().counts()
    }

    /// Queues `event` once for every session subscribed to a pattern matching `channel`
    /// (PUB-4). Returns how many sessions got it and the sessions whose queue overflowed,
    /// for the caller to end (SES-4).
    pub fn publish(
        &self,
        channel: &ChannelName,
        event: &FrozenEvent,
    ) -> (usize, Vec<Arc<Session>>) {
        let index = self.index.read();
        let sets = index.matching(channel);
        let mut overflowed = Vec::new();
        let mut delivered = 0;
        let mut deliver = |session: &Arc<Session>| {
            delivered += 1;
            if session.deliver(event.clone()) == Delivery::Overflow {
                overflowed.push(Arc::clone(session));
            }
        };
        let non_empty: Vec<_> = sets.into_iter().filter(|set| !set.is_empty()).collect();
        if let [only] = non_empty[..] {
            // One matching pattern: every session appears once, no de-duplication needed.
            only.values().for_each(&mut deliver);
        } else {
            let mut seen = HashSet::new();
            for set in non_empty {
                for (key, session) in set {
                    if seen.insert(*key) {
                        deliver(session);
                    }
                }
            }
        }
        (delivered, overflowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Event;
    use crate::session::Claim;
    use serde_json::value::RawValue;

    fn event(channel: &ChannelName) -> FrozenEvent {
        Event::new(channel.clone(), RawValue::from_string("1".into()).unwrap()).freeze()
    }

    #[test]
    fn a_session_matched_twice_gets_one_copy() {
        let broker = Broker::default();
        let session = Arc::new(Session::new(
            "c".into(),
            7,
            crate::session::QueueLimit::messages(100),
            false,
        ));
        for pattern in ["/chat/*", "/chat/news", "/**"] {
            broker.subscribe(&session, &ChannelPattern::parse(pattern).unwrap(), || {});
        }
        let channel = ChannelName::parse("/chat/news").unwrap();
        let (delivered, overflowed) = broker.publish(&channel, &event(&channel));
        assert_eq!((delivered, overflowed.len()), (1, 0));
        let connect = session.begin_connect(true).unwrap();
        assert_eq!(session.take(Claim::Connect(connect)).events.len(), 1);
    }

    #[test]
    fn unsubscribed_sessions_get_nothing_and_interest_follows_the_index() {
        let broker = Broker::default();
        let (a, b) = (
            Arc::new(Session::new(
                "a".into(),
                1,
                crate::session::QueueLimit::messages(100),
                false,
            )),
            Arc::new(Session::new(
                "b".into(),
                2,
                crate::session::QueueLimit::messages(100),
                false,
            )),
        );
        let pattern = ChannelPattern::parse("/a").unwrap();
        let mut firsts = 0;
        assert!(broker.subscribe(&a, &pattern, || firsts += 1));
        assert!(broker.subscribe(&b, &pattern, || firsts += 1));
        assert!(!broker.subscribe(&b, &pattern, || firsts += 1));
        assert_eq!(firsts, 1);
        let mut lasts = 0;
        assert!(broker.unsubscribe(&a, &pattern, || lasts += 1));
        assert!(broker.unsubscribe(&b, &pattern, || lasts += 1));
        assert_eq!(lasts, 1);
        assert!(!broker.has_subscribers(&pattern));
        let channel = ChannelName::parse("/a").unwrap();
        assert_eq!(broker.publish(&channel, &event(&channel)).0, 0);
    }
}
