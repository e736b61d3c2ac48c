//! Sessions: one per handshaken client, with its state, its queue of messages waiting to
//! be delivered, and the one waker its held `/meta/connect` sleeps on.
//!
//! Publishing pushes bytes into a session's queue and wakes the holder; it never awaits.
//! The queue's lock is held for a push or a drain only, never across an `.await`.

mod state;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

pub use state::{EndReason, SessionEvent, SessionState};

/// The identifier a client gets at handshake (HS-2).
pub type ClientId = Box<str>;

/// A small number naming a session inside the server, cheaper than its id to hash.
pub type SessionKey = u64;

/// One client's session.
#[derive(Debug)]
pub struct Session {
    id: ClientId,
    key: SessionKey,
    max_queue: usize,
    inner: Mutex<Inner>,
    /// Woken when a message is queued, when a newer connect takes over, and when the
    /// session ends. Whoever delivers for the session (a held connect) waits on it.
    wake: Notify,
}

#[derive(Debug)]
struct Inner {
    state: SessionState,
    queue: VecDeque<Bytes>,
    /// The ticket of the connect that delivers for the session, if one is held (CN-7).
    holder: Option<u64>,
    next_ticket: u64,
    /// When the client was last heard from or last answered; expiry counts from here.
    last_seen: Instant,
}

/// Whether a message could be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued (or dropped because the session has ended).
    Queued,
    /// The queue is full: the session must end (SES-4).
    Overflow,
}

/// A held connect's claim on delivering for a session: only the newest ticket drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectTicket {
    ticket: u64,
    /// This was the session's first connect (CN-3).
    pub first: bool,
}

/// Why a held connect stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Messages are queued.
    Messages,
    /// A newer connect took over (CN-7).
    Superseded,
    /// The session ended.
    Ended(EndReason),
}

impl Session {
    /// A new, handshaken session.
    pub fn new(id: ClientId, key: SessionKey, max_queue: usize) -> Self {
        Self {
            id,
            key,
            max_queue,
            inner: Mutex::new(Inner {
                state: SessionState::Handshaken,
                queue: VecDeque::new(),
                holder: None,
                next_ticket: 1,
                last_seen: Instant::now(),
            }),
            wake: Notify::new(),
        }
    }

    /// The client's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session's key inside the server.
    pub fn key(&self) -> SessionKey {
        self.key
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.inner.lock().state
    }

    /// Notes that the client was heard from (any message extends the session's life).
    pub fn touch(&self) {
        self.inner.lock().last_seen = Instant::now();
    }

    /// Queues one message for the client and wakes whoever delivers for it.
    pub fn deliver(&self, message: Bytes) -> Delivery {
        let mut inner = self.inner.lock();
        if !inner.state.is_live() {
            return Delivery::Queued;
        }
        if inner.queue.len() >= self.max_queue {
            return Delivery::Overflow;
        }
        inner.queue.push_back(message);
        let waiting = inner.holder.is_some();
        drop(inner);
        if waiting {
            self.wake.notify_waiters();
        }
        Delivery::Queued
    }

    /// Takes every queued message, in order.
    pub fn drain(&self) -> Vec<Bytes> {
        Vec::from(std::mem::take(&mut self.inner.lock().queue))
    }

    /// Whether messages are waiting.
    pub fn has_messages(&self) -> bool {
        !self.inner.lock().queue.is_empty()
    }

    /// Starts a connect: the session becomes connected and this connect the one that
    /// delivers; an older held connect is woken to answer empty (CN-7). `None` when the
    /// session has ended.
    pub fn begin_connect(&self) -> Option<ConnectTicket> {
        let mut inner = self.inner.lock();
        let first = inner.state == SessionState::Handshaken;
        inner.state = inner.state.on(SessionEvent::Connect)?;
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        let superseded = inner.holder.replace(ticket).is_some();
        inner.last_seen = Instant::now();
        drop(inner);
        if superseded {
            self.wake.notify_waiters();
        }
        Some(ConnectTicket { ticket, first })
    }

    /// Ends a connect; expiry counts from now (SES-2) once no connect is held.
    pub fn end_connect(&self, ticket: ConnectTicket) {
        let mut inner = self.inner.lock();
        if inner.holder == Some(ticket.ticket) {
            inner.holder = None;
        }
        inner.last_seen = Instant::now();
    }

    /// Whether `ticket` still delivers for the session.
    pub fn is_holder(&self, ticket: ConnectTicket) -> bool {
        self.inner.lock().holder == Some(ticket.ticket)
    }

    /// Waits until there is something for the connect holding `ticket` to answer with.
    /// The caller bounds the wait (timeout, shutdown) with `select!`.
    pub async fn wait(&self, ticket: ConnectTicket) -> Wake {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            // Registered before the state is read, so a wake between the read and the
            // await is not missed.
            notified.as_mut().enable();
            {
                let inner = self.inner.lock();
                if let SessionState::Ended(reason) = inner.state {
                    return Wake::Ended(reason);
                }
                if inner.holder != Some(ticket.ticket) {
                    return Wake::Superseded;
                }
                if !inner.queue.is_empty() {
                    return Wake::Messages;
                }
            }
            notified.await;
        }
    }

    /// Ends the session; `false` if it had already ended. Its queue is dropped and its held
    /// connect woken.
    pub fn end(&self, reason: EndReason) -> bool {
        let mut inner = self.inner.lock();
        let Some(next) = inner.state.on(SessionEvent::End(reason)) else {
            return false;
        };
        inner.state = next;
        inner.queue.clear();
        drop(inner);
        self.wake.notify_waiters();
        true
    }

    /// Whether the session has gone longer than `idle` without a connect (SES-2).
    pub fn is_expired(&self, now: Instant, idle: Duration) -> bool {
        let inner = self.inner.lock();
        inner.holder.is_none() && now.saturating_duration_since(inner.last_seen) > idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new("c1".into(), 1, 3)
    }

    #[tokio::test]
    async fn queued_messages_wake_the_holder_in_order() {
        let s = session();
        let ticket = s.begin_connect().unwrap();
        assert!(ticket.first);
        assert_eq!(s.deliver(Bytes::from_static(b"1")), Delivery::Queued);
        assert_eq!(s.deliver(Bytes::from_static(b"2")), Delivery::Queued);
        assert_eq!(s.wait(ticket).await, Wake::Messages);
        assert_eq!(
            s.drain(),
            vec![Bytes::from_static(b"1"), Bytes::from_static(b"2")]
        );
    }

    #[tokio::test]
    async fn a_newer_connect_supersedes_the_held_one() {
        let s = session();
        let old = s.begin_connect().unwrap();
        let new = s.begin_connect().unwrap();
        assert!(!new.first);
        assert_eq!(s.wait(old).await, Wake::Superseded);
        s.end_connect(old);
        assert!(s.is_holder(new));
    }

    #[tokio::test]
    async fn ending_wakes_and_refuses_connects() {
        let s = session();
        let ticket = s.begin_connect().unwrap();
        assert!(s.end(EndReason::Disconnected));
        assert!(!s.end(EndReason::Expired));
        assert_eq!(s.wait(ticket).await, Wake::Ended(EndReason::Disconnected));
        assert!(s.begin_connect().is_none());
    }

    #[test]
    fn overflow_is_reported() {
        let s = session();
        for _ in 0..3 {
            assert_eq!(s.deliver(Bytes::new()), Delivery::Queued);
        }
        assert_eq!(s.deliver(Bytes::new()), Delivery::Overflow);
    }

    #[test]
    fn expiry_needs_no_held_connect() {
        let s = session();
        let later = Instant::now() + Duration::from_secs(5);
        assert!(s.is_expired(later, Duration::from_secs(1)));
        let ticket = s.begin_connect().unwrap();
        assert!(!s.is_expired(later, Duration::from_secs(1)));
        s.end_connect(ticket);
        assert!(!s.is_expired(Instant::now(), Duration::from_secs(1)));
    }
}
