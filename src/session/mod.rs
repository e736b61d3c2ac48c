//! Sessions: one per handshaken client, with its state, its queue of messages waiting to
//! be delivered, and the one waker its deliverer sleeps on.
//!
//! Exactly one deliverer drains a session's queue at a time, which is what keeps a client's
//! messages in order whatever transport carries them (PUB-6): a held long-poll connect
//! drains when no stream is attached; an attached push stream (a WebSocket or an
//! EventSource) drains as soon as messages arrive, and connects are then only heartbeats.
//! Publishing pushes bytes into the queue and wakes the deliverer; it never awaits. The
//! lock is held for a push or a drain only, never across an `.await`.

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
    /// The ticket of the held connect, if one is held (CN-7).
    holder: Option<u64>,
    /// The ticket and kind of the attached push stream, if one is attached.
    stream: Option<(u64, StreamKind)>,
    next_ticket: u64,
    /// When the client was last heard from or last answered; expiry counts from here.
    last_seen: Instant,
}

impl Inner {
    /// Whether `ticket` is the attached stream's.
    fn is_stream(&self, ticket: StreamTicket) -> bool {
        self.stream.is_some_and(|(held, _)| held == ticket.0)
    }
}

/// Whether a message could be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued (or dropped because the session has ended).
    Queued,
    /// The queue is full: the session must end (SES-4).
    Overflow,
}

/// A connect's claim on a session: only the newest connect is held (CN-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectTicket {
    ticket: u64,
    /// This was the session's first connect (CN-3).
    pub first: bool,
    /// The connect may carry messages (a poll). A heartbeat connect (on a WebSocket, or
    /// beside an EventSource) never does, even once its stream is gone: its answer may
    /// have nowhere left to go.
    delivers: bool,
}

/// A push stream's claim on delivering for a session: only the newest stream drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTicket(u64);

/// Whether a polling connect takes delivery away from a stream (TR-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A stream the client also sends on (a WebSocket): its connects come on the stream,
    /// so a connect that arrives by poll means the client has moved, and the poll takes
    /// over (the socket may be half-open and nobody reading it).
    Duplex,
    /// A stream that only goes down (an EventSource): the client always connects by poll,
    /// and those polls leave delivery to the stream.
    Downstream,
}

/// Why a deliverer stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Messages are queued for this deliverer.
    Messages,
    /// A newer connect or stream took over.
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
                stream: None,
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
        let waiting = inner.holder.is_some() || inner.stream.is_some();
        drop(inner);
        if waiting {
            self.wake.notify_waiters();
        }
        Delivery::Queued
    }

    /// Whether messages are waiting for a connect to take them (none is attached a stream).
    pub fn has_messages_for_connect(&self) -> bool {
        let inner = self.inner.lock();
        inner.stream.is_none() && !inner.queue.is_empty()
    }

    /// Starts a connect: the session becomes connected and this connect the held one; an
    /// older held connect is woken to answer empty (CN-7). A connect that `delivers` (a
    /// poll) also detaches a duplex stream: the client polls now, so the poll takes the
    /// queue. `None` when the session has ended.
    pub fn begin_connect(&self, delivers: bool) -> Option<ConnectTicket> {
        let mut inner = self.inner.lock();
        let first = inner.state == SessionState::Handshaken;
        inner.state = inner.state.on(SessionEvent::Connect)?;
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        let mut superseded = inner.holder.replace(ticket).is_some();
        if delivers && matches!(inner.stream, Some((_, StreamKind::Duplex))) {
            inner.stream = None;
            superseded = true;
        }
        inner.last_seen = Instant::now();
        drop(inner);
        if superseded {
            self.wake.notify_waiters();
        }
        Some(ConnectTicket {
            ticket,
            first,
            delivers,
        })
    }

    /// Ends a connect; expiry counts from now (SES-2) once no connect is held.
    pub fn end_connect(&self, ticket: ConnectTicket) {
        let mut inner = self.inner.lock();
        if inner.holder == Some(ticket.ticket) {
            inner.holder = None;
        }
        inner.last_seen = Instant::now();
    }

    /// Takes the queued messages for a held connect, in order: none if a newer connect
    /// took over or a stream delivers.
    pub fn drain_for_connect(&self, ticket: ConnectTicket) -> Vec<Bytes> {
        let mut inner = self.inner.lock();
        if !ticket.delivers || inner.holder != Some(ticket.ticket) || inner.stream.is_some() {
            return Vec::new();
        }
        Vec::from(std::mem::take(&mut inner.queue))
    }

    /// Waits until the held connect holding `ticket` has something to answer with:
    /// messages (for a poll, when no stream delivers), a newer connect, or the end of the
    /// session. The caller bounds the wait (timeout, shutdown) with `select!`.
    pub async fn wait_connect(&self, ticket: ConnectTicket) -> Wake {
        self.wait(|inner| {
            if inner.holder != Some(ticket.ticket) {
                Some(Wake::Superseded)
            } else if ticket.delivers && inner.stream.is_none() && !inner.queue.is_empty() {
                Some(Wake::Messages)
            } else {
                None
            }
        })
        .await
    }

    /// Attaches a push stream: from now on it delivers the session's messages. An older
    /// stream is woken and stops delivering.
    pub fn attach_stream(&self, kind: StreamKind) -> StreamTicket {
        let mut inner = self.inner.lock();
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        let superseded = inner.stream.replace((ticket, kind)).is_some();
        drop(inner);
        if superseded {
            self.wake.notify_waiters();
        }
        StreamTicket(ticket)
    }

    /// Detaches a stream (its socket closed): messages stay queued for the next connect,
    /// and expiry counts from now.
    pub fn detach_stream(&self, ticket: StreamTicket) {
        let mut inner = self.inner.lock();
        if inner.is_stream(ticket) {
            inner.stream = None;
            inner.last_seen = Instant::now();
        }
    }

    /// Waits until the stream holding `ticket` has messages to push, or must stop.
    pub async fn wait_stream(&self, ticket: StreamTicket) -> Wake {
        self.wait(|inner| {
            if !inner.is_stream(ticket) {
                Some(Wake::Superseded)
            } else if !inner.queue.is_empty() {
                Some(Wake::Messages)
            } else {
                None
            }
        })
        .await
    }

    /// Takes the queued messages for the stream holding `ticket`, in order.
    pub fn drain_for_stream(&self, ticket: StreamTicket) -> Vec<Bytes> {
        let mut inner = self.inner.lock();
        if !inner.is_stream(ticket) {
            return Vec::new();
        }
        Vec::from(std::mem::take(&mut inner.queue))
    }

    async fn wait(&self, ready: impl Fn(&Inner) -> Option<Wake>) -> Wake {
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
                if let Some(wake) = ready(&inner) {
                    return wake;
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

    /// Whether the session has gone longer than `idle` with neither a held connect nor an
    /// attached stream (SES-2).
    pub fn is_expired(&self, now: Instant, idle: Duration) -> bool {
        let inner = self.inner.lock();
        inner.holder.is_none()
            && inner.stream.is_none()
            && now.saturating_duration_since(inner.last_seen) > idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new("c1".into(), 1, 3)
    }

    fn bytes(b: &'static [u8]) -> Bytes {
        Bytes::from_static(b)
    }

    #[tokio::test]
    async fn queued_messages_wake_the_held_connect_in_order() {
        let s = session();
        let ticket = s.begin_connect(true).unwrap();
        assert!(ticket.first);
        assert_eq!(s.deliver(bytes(b"1")), Delivery::Queued);
        assert_eq!(s.deliver(bytes(b"2")), Delivery::Queued);
        assert_eq!(s.wait_connect(ticket).await, Wake::Messages);
        assert_eq!(s.drain_for_connect(ticket), vec![bytes(b"1"), bytes(b"2")]);
    }

    #[tokio::test]
    async fn a_newer_connect_supersedes_the_held_one() {
        let s = session();
        let old = s.begin_connect(true).unwrap();
        let new = s.begin_connect(true).unwrap();
        assert!(!new.first);
        assert_eq!(s.wait_connect(old).await, Wake::Superseded);
        s.deliver(bytes(b"m"));
        assert!(s.drain_for_connect(old).is_empty());
        assert_eq!(s.drain_for_connect(new).len(), 1);
    }

    #[tokio::test]
    async fn an_attached_stream_delivers_and_connects_only_beat() {
        let s = session();
        let connect = s.begin_connect(false).unwrap();
        let stream = s.attach_stream(StreamKind::Duplex);
        s.deliver(bytes(b"m"));
        assert_eq!(s.wait_stream(stream).await, Wake::Messages);
        assert!(!s.has_messages_for_connect());
        assert!(s.drain_for_connect(connect).is_empty());
        assert_eq!(s.drain_for_stream(stream), vec![bytes(b"m")]);
        // A poll takes over from a duplex stream: the client has moved.
        let poll = s.begin_connect(true).unwrap();
        assert_eq!(s.wait_stream(stream).await, Wake::Superseded);
        s.deliver(bytes(b"n"));
        assert_eq!(s.drain_for_connect(poll), vec![bytes(b"n")]);
    }

    #[tokio::test]
    async fn a_heartbeat_connect_never_takes_messages() {
        let s = session();
        let heartbeat = s.begin_connect(false).unwrap();
        let stream = s.attach_stream(StreamKind::Duplex);
        s.detach_stream(stream);
        s.deliver(bytes(b"m"));
        let waited = tokio::time::timeout(Duration::from_millis(20), s.wait_connect(heartbeat));
        assert!(waited.await.is_err(), "a heartbeat woke for a message");
        assert!(s.drain_for_connect(heartbeat).is_empty());
        let poll = s.begin_connect(true).unwrap();
        assert_eq!(s.drain_for_connect(poll), vec![bytes(b"m")]);
    }

    #[tokio::test]
    async fn polls_leave_a_downstream_stream_delivering() {
        let s = session();
        let stream = s.attach_stream(StreamKind::Downstream);
        let poll = s.begin_connect(true).unwrap();
        s.deliver(bytes(b"m"));
        assert_eq!(s.wait_stream(stream).await, Wake::Messages);
        assert!(s.drain_for_connect(poll).is_empty());
        assert_eq!(s.drain_for_stream(stream), vec![bytes(b"m")]);
    }

    #[tokio::test]
    async fn a_detached_stream_leaves_messages_for_the_next_connect() {
        let s = session();
        let stream = s.attach_stream(StreamKind::Duplex);
        s.detach_stream(stream);
        s.deliver(bytes(b"m"));
        assert!(s.drain_for_stream(stream).is_empty());
        let connect = s.begin_connect(true).unwrap();
        assert_eq!(s.drain_for_connect(connect), vec![bytes(b"m")]);
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
        for _ in 0..3 {
            assert_eq!(s.deliver(Bytes::new()), Delivery::Queued);
        }
        assert_eq!(s.deliver(Bytes::new()), Delivery::Overflow);
    }

    #[test]
    fn expiry_needs_no_held_connect_and_no_stream() {
        let s = session();
        let later = Instant::now() + Duration::from_secs(5);
        let idle = Duration::from_secs(1);
        assert!(s.is_expired(later, idle));
        let ticket = s.begin_connect(true).unwrap();
        assert!(!s.is_expired(later, idle));
        s.end_connect(ticket);
        let stream = s.attach_stream(StreamKind::Duplex);
        assert!(!s.is_expired(later, idle));
        s.detach_stream(stream);
        assert!(!s.is_expired(Instant::now(), idle));
    }
}
