//! Sessions: one per handshaken client, with its state, its queue of messages waiting to
//! be delivered, and the one waker its deliverer sleeps on.
//!
//! Exactly one deliverer takes from a session's queue at a time, which is what keeps a
//! client's messages in order whatever transport carries them (PUB-6): a held long-poll
//! connect takes when no stream is attached; an attached push stream (a WebSocket, an
//! EventSource, a server-side session) takes as soon as messages arrive, and connects are
//! then only heartbeats. Publishing pushes into the queue and wakes the deliverer; it never
//! awaits. The lock is held for a push or a take only, never across an `.await`.
//!
//! Only the protocol core drives a session: transports reach one through the core's
//! outbound door ([`crate::bayeux`]), never directly.

mod binding;
mod budget;
mod census;
mod handle;
mod queue;
mod state;
mod sweep;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::protocol::FrozenEvent;
use queue::Queue;

pub use budget::Budget;
pub use census::{Census, Link};
pub use handle::ServerSession;
pub use queue::{QueueLimit, Taken};
pub use state::{EndReason, SessionEvent, SessionState};

/// The identifier a client gets at handshake (HS-2): shared text, since every reply to
/// the client carries it.
pub type ClientId = Arc<str>;

/// A small number naming a session inside the server, cheaper than its id to hash.
pub type SessionKey = u64;

/// One client's session.
#[derive(Debug)]
pub struct Session {
    id: ClientId,
    key: SessionKey,
    limit: QueueLimit,
    /// Made on the server ([`crate::LocalSession`]), not by a remote client.
    local: bool,
    /// Messages stay until the client acknowledges them (ACK-1). Set at handshake, before
    /// anyone else sees the session; read on every reply.
    acknowledged: AtomicBool,
    inner: Mutex<Inner>,
    /// Woken when a message is queued, when a newer connect takes over, and when the
    /// session ends. Whoever delivers for the session (a held connect) waits on it.
    wake: Notify,
    /// Who signed in, set once at handshake (before the session is known) and read to
    /// reach every session of one user.
    user: OnceLock<Arc<str>>,
    /// What the application keeps about the session.
    attributes: Mutex<http::Extensions>,
    /// The browser it belongs to, once its handshake named one (BIND-1).
    binding: OnceLock<binding::Binding>,
    /// What it may still publish this second (LIM-12), from its first publish on.
    publish_budget: Mutex<Option<Budget>>,
}

#[derive(Debug)]
struct Inner {
    state: SessionState,
    queue: Queue,
    /// The ticket of the held connect, if one is held (CN-7).
    holder: Option<u64>,
    /// The ticket and kind of the attached push stream, if one is attached.
    stream: Option<(u64, StreamKind)>,
    next_ticket: u64,
    /// When the client was last heard from or last answered; expiry counts from here.
    last_seen: Instant,
    /// How many times the attached stream took messages, and what the sweeper saw of it.
    stream_watch: sweep::StreamWatch,
}

impl Inner {
    /// Whether `ticket` is the attached stream's.
    fn is_stream(&self, ticket: StreamTicket) -> bool {
        self.stream.is_some_and(|(held, _)| held == ticket.0)
    }

    fn mint(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        ticket
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

/// A push stream's claim on delivering for a session: only the newest stream takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTicket(u64);

/// Who is taking a session's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// A held connect, answering with them.
    Connect(ConnectTicket),
    /// An attached push stream.
    Stream(StreamTicket),
}

/// Whether a polling connect takes delivery away from a stream (TR-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A stream the client also sends on (a WebSocket): its connects come on the stream,
    /// so a connect that arrives by poll means the client has moved, and the poll takes
    /// over (the socket may be half-open and nobody reading it).
    Duplex,
    /// A stream that only goes down (an EventSource, a server-side session): the client
    /// connects by poll if at all, and those polls leave delivery to the stream.
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
    pub fn new(id: ClientId, key: SessionKey, limit: QueueLimit, local: bool) -> Self {
        Self {
            id,
            key,
            limit,
            local,
            acknowledged: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                state: SessionState::Handshaken,
                queue: Queue::default(),
                holder: None,
                stream: None,
                next_ticket: 1,
                last_seen: Instant::now(),
                stream_watch: sweep::StreamWatch::default(),
            }),
            wake: Notify::new(),
            user: OnceLock::new(),
            attributes: Mutex::default(),
            binding: OnceLock::new(),
            publish_budget: Mutex::new(None),
        }
    }

    /// The client's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client's id, to put in a reply.
    pub fn client_id(&self) -> ClientId {
        Arc::clone(&self.id)
    }

    /// The session's key inside the server.
    pub fn key(&self) -> SessionKey {
        self.key
    }

    /// Whether the session was made on the server.
    pub fn is_local(&self) -> bool {
        self.local
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
    pub fn deliver(&self, event: FrozenEvent) -> Delivery {
        let mut inner = self.inner.lock();
        if !inner.state.is_live() {
            return Delivery::Queued;
        }
        if !inner
            .queue
            .push(event, self.limit, self.is_acknowledged_delivery())
        {
            return Delivery::Overflow;
        }
        let waiting = inner.holder.is_some() || inner.stream.is_some();
        drop(inner);
        if waiting {
            self.wake.notify_waiters();
        }
        Delivery::Queued
    }

    /// How many messages wait (acknowledged delivery: sent or not, until acknowledged).
    pub fn queued(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// Keeps messages until the client acknowledges them, and delivers them only with
    /// connect replies (the `ack` extension: ACK-1).
    pub fn enable_acknowledged_delivery(&self) {
        self.acknowledged.store(true, Ordering::Relaxed);
    }

    /// Whether messages are kept until acknowledged.
    pub fn is_acknowledged_delivery(&self) -> bool {
        self.acknowledged.load(Ordering::Relaxed)
    }

    /// The client has every batch up to `batch` (ACK-2).
    pub fn acknowledge(&self, batch: u64) {
        self.inner.lock().queue.acknowledge(batch);
    }

    /// Whether messages are waiting for a connect to take them (no stream is attached).
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
        let ticket = inner.mint();
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
        let ticket = inner.mint();
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

    /// Takes the queued messages for `claim`, in order: none unless it is the deliverer
    /// (the held connect of a poll while no stream is attached, or the attached stream).
    pub fn take(&self, claim: Claim) -> Taken {
        let mut inner = self.inner.lock();
        let delivers = match claim {
            Claim::Connect(ticket) => {
                ticket.delivers && inner.holder == Some(ticket.ticket) && inner.stream.is_none()
            }
            Claim::Stream(ticket) => inner.is_stream(ticket),
        };
        if !delivers {
            return Taken::default();
        }
        if matches!(claim, Claim::Stream(_)) {
            inner.stream_watch.took();
        }
        inner.queue.take(self.is_acknowledged_delivery())
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

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&Arc<str>> {
        self.user.get()
    }

    /// Names the signed-in user; `false` if one was already named (it never changes).
    pub fn set_user(&self, user: Arc<str>) -> bool {
        self.user.set(user).is_ok()
    }

    /// The application's attributes.
    pub(crate) fn attributes(&self) -> &Mutex<http::Extensions> {
        &self.attributes
    }
}

#[cfg(test)]
mod tests;
