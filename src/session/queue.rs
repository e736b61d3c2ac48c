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

#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Events in publish order, each with the batch it was sent in ([`UNSENT`] until then).
    entries: VecDeque<(u64, FrozenEvent)>,
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
    /// Adds an event; `false` when the queue already holds `max` (the caller ends the
    /// session).
    pub(crate) fn push(&mut self, event: FrozenEvent, max: usize) -> bool {
        if self.entries.len() >= max {
            return false;
        }
        self.entries.push_back((UNSENT, event));
        true
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Drops every event sent in a batch up to `batch`.
    pub(crate) fn acknowledge(&mut self, batch: u64) {
        while self
            .entries
            .front()
            .is_some_and(|(sent, _)| *sent != UNSENT && *sent <= batch)
        {
            self.entries.pop_front();
        }
    }

    /// Takes what a delivery sends: everything, or in `acknowledged` delivery every event
    /// not yet acknowledged, as a newly closed batch.
    pub(crate) fn take(&mut self, acknowledged: bool) -> Taken {
        if !acknowledged {
            return Taken {
                events: self.entries.drain(..).map(|(_, event)| event).collect(),
                batch: None,
            };
        }
        self.batch += 1;
        let batch = self.batch;
        let events = self
            .entries
            .iter_mut()
            .map(|(sent, event)| {
                if *sent == UNSENT {
                    *sent = batch;
                }
                event.clone()
            })
            .collect();
        Taken {
            events,
            batch: Some(batch),
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

    fn data(taken: &Taken) -> Vec<&str> {
        taken.events.iter().map(FrozenEvent::data_json).collect()
    }

    #[test]
    fn plain_delivery_takes_everything_once() {
        let mut queue = Queue::default();
        assert!(queue.push(event(1), 2) && queue.push(event(2), 2));
        assert!(!queue.push(event(3), 2), "bounded");
        let taken = queue.take(false);
        assert_eq!((data(&taken), taken.batch), (vec!["1", "2"], None));
        assert!(queue.is_empty());
    }

    #[test]
    fn unacknowledged_batches_are_sent_again_in_order() {
        let mut queue = Queue::default();
        queue.push(event(1), 10);
        let first = queue.take(ACKED);
        assert_eq!((data(&first), first.batch), (vec!["1"], Some(1)));
        queue.push(event(2), 10);
        // The reply with batch 1 was lost: the client acknowledges batch 0.
        queue.acknowledge(0);
        let second = queue.take(ACKED);
        assert_eq!((data(&second), second.batch), (vec!["1", "2"], Some(2)));
        queue.push(event(3), 10);
        queue.acknowledge(2);
        let third = queue.take(ACKED);
        assert_eq!((data(&third), third.batch), (vec!["3"], Some(3)));
        queue.acknowledge(3);
        assert!(queue.is_empty());
    }

    #[test]
    fn an_acknowledgement_never_drops_unsent_events() {
        let mut queue = Queue::default();
        queue.push(event(1), 10);
        queue.acknowledge(99);
        assert_eq!(queue.len(), 1);
    }
}
