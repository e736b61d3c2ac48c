//! A session's queue of events waiting for delivery, bounded (SES-4), and, in acknowledged
//! delivery (the `ack` extension, ACK-1 to ACK-4), kept until the client says it has them.
//!
//! In acknowledged delivery every connect reply that takes events closes a batch: the
//! events not sent before get the next batch number, and the reply carries all events not
//! yet acknowledged, oldest first, with that number. The client's next connect names the
//! last batch it received; everything up to it is dropped and the rest is sent again.

use std::collections::VecDeque;

use crate::protocol::FrozenEvent;

/// The batch number of an event not sent yet.
const UNSENT: u64 = 0;

/// How much a session's queue may hold before the session ends (SES-4, LIM-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimit {
    /// Messages.
    pub messages: usize,
    /// Bytes of their JSON (a message shared by many queues counts in each: it is each
    /// session's claim on memory).
    pub bytes: usize,
}

impl QueueLimit {
    /// A limit on messages alone.
    pub fn messages(messages: usize) -> Self {
        Self {
            messages,
            bytes: usize::MAX,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Events in publish order.
    events: VecDeque<FrozenEvent>,
    /// The bytes of their JSON.
    bytes: usize,
    /// In acknowledged delivery, the batch each event was sent in ([`UNSENT`] until then),
    /// one per event; empty otherwise, so plain delivery pays nothing for it.
    sent: VecDeque<u64>,
    /// The last batch number given out; the first batch is 1.
    batch: u64,
}

/// What one delivery takes from the queue.
#[derive(Debug, Default)]
pub struct Taken {
    /// The events, in publish order.
    pub events: Vec<FrozenEvent>,
    /// In acknowledged delivery, the batch number they were sent as.
    pub batch: Option<u64>,
}

impl Queue {
    /// Adds an event; `false` when it would pass `limit` (the caller ends the session).
    pub(crate) fn push(
        &mut self,
        event: FrozenEvent,
        limit: QueueLimit,
        acknowledged: bool,
    ) -> bool {
        let size = event.json().len();
        if self.events.len() >= limit.messages || self.bytes + size > limit.bytes {
            return false;
        }
        self.bytes += size;
        self.events.push_back(event);
        if acknowledged {
            self.sent.push_back(UNSENT);
        }
        true
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether some event has not been sent yet.
    pub(crate) fn has_unsent(&self) -> bool {
        match self.sent.back() {
            Some(sent) => *sent == UNSENT,
            None => !self.events.is_empty(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn clear(&mut self) {
        self.events.clear();
        self.sent.clear();
        self.bytes = 0;
    }

    /// Drops every event sent in a batch up to `batch`.
    pub(crate) fn acknowledge(&mut self, batch: u64) {
        while self
            .sent
            .front()
            .is_some_and(|sent| *sent != UNSENT && *sent <= batch)
        {
            self.sent.pop_front();
            if let Some(event) = self.events.pop_front() {
                self.bytes -= event.json().len();
            }
        }
    }

    /// Takes what a delivery sends: everything, or in `acknowledged` delivery every event
    /// not yet acknowledged, as a newly closed batch.
    pub(crate) fn take(&mut self, acknowledged: bool) -> Taken {
        if !acknowledged {
            // The queue's buffer becomes the delivery's: no copy.
            self.bytes = 0;
            return Taken {
                events: Vec::from(std::mem::take(&mut self.events)),
                batch: None,
            };
        }
        self.batch += 1;
        for sent in self.sent.iter_mut().filter(|sent| **sent == UNSENT) {
            *sent = self.batch;
        }
        Taken {
            events: self.events.iter().cloned().collect(),
            batch: Some(self.batch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ChannelName, Event};
    use serde_json::value::RawValue;

    fn event(n: u32) -> FrozenEvent {
        let data = RawValue::from_string(n.to_string()).unwrap();
        Event::new(ChannelName::parse("/a").unwrap(), data).freeze()
    }

    const ACKED: bool = true;
    const TEN: QueueLimit = QueueLimit {
        messages: 10,
        bytes: usize::MAX,
    };

    fn data(taken: &Taken) -> Vec<&str> {
        taken.events.iter().map(FrozenEvent::data_json).collect()
    }

    #[test]
    fn plain_delivery_takes_everything_once() {
        let mut queue = Queue::default();
        let two = QueueLimit::messages(2);
        assert!(queue.push(event(1), two, false) && queue.push(event(2), two, false));
        assert!(!queue.push(event(3), two, false), "bounded");
        let taken = queue.take(false);
        assert_eq!((data(&taken), taken.batch), (vec!["1", "2"], None));
        assert!(queue.is_empty());
    }

    #[test]
    fn unacknowledged_batches_are_sent_again_in_order() {
        let mut queue = Queue::default();
        queue.push(event(1), TEN, ACKED);
        let first = queue.take(ACKED);
        assert_eq!((data(&first), first.batch), (vec!["1"], Some(1)));
        queue.push(event(2), TEN, ACKED);
        // The reply with batch 1 was lost: the client acknowledges batch 0.
        queue.acknowledge(0);
        let second = queue.take(ACKED);
        assert_eq!((data(&second), second.batch), (vec!["1", "2"], Some(2)));
        queue.push(event(3), TEN, ACKED);
        queue.acknowledge(2);
        let third = queue.take(ACKED);
        assert_eq!((data(&third), third.batch), (vec!["3"], Some(3)));
        queue.acknowledge(3);
        assert!(queue.is_empty());
    }

    #[test]
    fn bytes_are_bounded_too_and_freed_as_events_leave() {
        let mut queue = Queue::default();
        let size = event(1).json().len();
        let limit = QueueLimit {
            messages: 100,
            bytes: 2 * size,
        };
        assert!(queue.push(event(1), limit, ACKED) && queue.push(event(2), limit, ACKED));
        assert!(
            !queue.push(event(3), limit, ACKED),
            "two events' worth of bytes"
        );
        let first = queue.take(ACKED);
        queue.acknowledge(first.batch.unwrap());
        assert!(
            queue.push(event(3), limit, false),
            "acknowledged bytes are freed"
        );
        queue.take(false);
        assert!(queue.push(event(4), limit, false) && queue.push(event(5), limit, false));
    }

    #[test]
    fn an_acknowledgement_never_drops_unsent_events() {
        let mut queue = Queue::default();
        queue.push(event(1), TEN, ACKED);
        queue.acknowledge(99);
        assert_eq!(queue.len(), 1);
    }
}
