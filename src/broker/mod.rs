//! The broker: who is subscribed to what, and fan-out of a published message to them.
//!
//! A publish is serialized once by the caller and reaches every subscriber as a clone of
//! the same `Bytes` (a reference count, not a copy). The index is behind a read-write lock:
//! publishes share it, only (un)subscribes take it exclusively, and no lock is held while
//! a session is ended.

mod index;

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use crate::protocol::{ChannelName, ChannelPattern};
use crate::session::{Delivery, Session};

pub use index::SubscriptionIndex;

/// The subscription index and fan-out, shared by every request.
#[derive(Debug, Default)]
pub struct Broker {
    index: RwLock<SubscriptionIndex<Arc<Session>>>,
}

impl Broker {
    /// Subscribes `session` to `pattern`.
    pub fn subscribe(&self, session: &Arc<Session>, pattern: &ChannelPattern) -> bool {
        self.index
            .write()
            .insert(pattern, session.key(), Arc::clone(session))
    }

    /// Unsubscribes `session` from `pattern`.
    pub fn unsubscribe(&self, session: &Session, pattern: &ChannelPattern) -> bool {
        self.index.write().remove(pattern, session.key())
    }

    /// Queues `message` once for every session subscribed to a pattern matching `channel`
    /// (PUB-4). Returns how many sessions got it and the sessions whose queue overflowed,
    /// for the caller to end (SES-4).
    pub fn publish(&self, channel: &ChannelName, message: &Bytes) -> (usize, Vec<Arc<Session>>) {
        let index = self.index.read();
        let sets = index.matching(channel);
        let mut overflowed = Vec::new();
        let mut delivered = 0;
        let mut deliver = |session: &Arc<Session>| {
            delivered += 1;
            if session.deliver(message.clone()) == Delivery::Overflow {
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

    #[test]
    fn a_session_matched_twice_gets_one_copy() {
        let broker = Broker::default();
        let session = Arc::new(Session::new("c".into(), 7, 100));
        for pattern in ["/chat/*", "/chat/news", "/**"] {
            broker.subscribe(&session, &ChannelPattern::parse(pattern).unwrap());
        }
        let channel = ChannelName::parse("/chat/news").unwrap();
        let (delivered, overflowed) = broker.publish(&channel, &Bytes::from_static(b"m"));
        assert_eq!((delivered, overflowed.len()), (1, 0));
        let connect = session.begin_connect(true).unwrap();
        assert_eq!(session.drain_for_connect(connect).len(), 1);
    }

    #[test]
    fn unsubscribed_sessions_get_nothing() {
        let broker = Broker::default();
        let session = Arc::new(Session::new("c".into(), 1, 100));
        let pattern = ChannelPattern::parse("/a").unwrap();
        broker.subscribe(&session, &pattern);
        broker.unsubscribe(&session, &pattern);
        let (delivered, _) = broker.publish(
            &ChannelName::parse("/a").unwrap(),
            &Bytes::from_static(b"m"),
        );
        assert_eq!(delivered, 0);
    }
}
