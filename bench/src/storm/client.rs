//! One storm client: a Bayeux client that comes back after losing its server the way the
//! CometD JavaScript client (npm `cometd`, `Client.js`) does, because that behaviour (not a
//! tight retry loop) is what a real crowd of browsers throws at a server after a restart:
//!
//! - a request that fails (refused, reset, timed out, not 200) is retried after a backoff
//!   that grows by `backoffIncrement` (1 s) up to `maxBackoff` (60 s), reset by a success;
//! - a failed `/meta/connect` turns into a handshake once the time unconnected plus the
//!   backoff passes `timeout + interval + maxInterval` (when `maxInterval` > 0);
//! - an unsuccessful reply follows `advice.reconnect` (`handshake`: handshake now; `none`:
//!   give up); a refused handshake retries with backoff unless its advice says `none`;
//! - every wait is `advice.interval` plus the backoff, so an interval in a handshake reply
//!   (or in a refusal) delays the next request;
//! - after a handshake it connects (the first connect asks `advice.timeout: 0`) and
//!   subscribes again, then holds `/meta/connect`.
//!
//! Two departures, both shared with the other scenarios of this tool: the handshake always
//! goes over HTTP (Faye needs it; CometD's client would send it on its WebSocket), and the
//! subscribe follows the first connect instead of going out from the handshake callback.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use tokio::sync::watch;

use super::link::{Link, NETWORK_DELAY};
use super::wire::{Advice, Reply};
use super::worker::Shared;
use crate::bayeux;

/// CometD's `backoffIncrement` and `maxBackoff`.
const BACKOFF_STEP: u64 = 1_000;
const MAX_BACKOFF: u64 = 60_000;

enum Next {
    Handshake,
    Connect,
}

struct Client {
    sh: Arc<Shared>,
    local: usize,
    seq: u64,
    client_id: String,
    advice: Advice,
    backoff: u64,
    unconnected_since: Option<Instant>,
    connected: bool,
    subscribed: bool,
    ever_ready: bool,
    /// A request failed since the drop: the next time this client is connected and
    /// subscribed, it is back.
    down: bool,
    link: Link,
    /// Held until the first handshake is answered, so that set-up goes in waves.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Runs client `local` of this worker until the process ends, or until a server tells it
/// `reconnect: none`.
pub async fn run(sh: Arc<Shared>, local: usize, mut blip: watch::Receiver<u64>) {
    let permit = sh.setup.clone().acquire_owned().await.ok();
    let mut c = Client {
        link: Link::new(sh.clone()),
        sh,
        local,
        seq: 0,
        client_id: String::new(),
        advice: Advice::default(),
        backoff: 0,
        unconnected_since: None,
        connected: false,
        subscribed: false,
        ever_ready: false,
        down: false,
        permit,
    };
    let mut next = Next::Handshake;
    let mut delay = 0;
    loop {
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if blip.has_changed().unwrap_or(false) {
            // The network went away while this client was waiting: its connections are gone.
            blip.borrow_and_update();
            c.link.close();
            c.fail();
        }
        let step = match next {
            Next::Handshake => c.handshake().await,
            Next::Connect => c.connect(&mut blip).await,
        };
        match step {
            Some((n, d)) => (next, delay) = (n, d),
            None => {
                c.sh.tally.gave_up.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

impl Client {
    fn id(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Something failed: after the drop, this client is down until it is back.
    fn fail(&mut self) {
        self.permit = None;
        if self.sh.armed.load(Ordering::Relaxed) {
            self.down = true;
        }
    }

    fn note(&self, what: &str, e: &anyhow::Error) {
        let mut first = self.sh.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(format!("{what}: {e:#}"));
        }
    }

    /// CometD's `increaseBackoffPeriod`.
    fn increase_backoff(&mut self) -> u64 {
        if self.backoff < MAX_BACKOFF {
            self.backoff += BACKOFF_STEP;
        }
        self.backoff
    }

    fn take_advice(&mut self, r: &Reply) {
        if let Some(a) = &r.advice {
            self.advice = a.clone();
        }
    }

    /// Connected and subscribed: counted as set up the first time, as back after the drop.
    fn ready(&mut self) {
        self.permit = None;
        if !self.ever_ready {
            self.ever_ready = true;
            self.sh.ready.fetch_add(1, Ordering::Relaxed);
        }
        if self.down {
            self.down = false;
            let slot = &self.sh.back_us[self.local];
            let _ = slot.compare_exchange(
                0,
                crate::worker::now_us(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    async fn handshake(&mut self) -> Option<(Next, u64)> {
        self.advice = Advice::default();
        self.connected = false;
        self.subscribed = false;
        self.sh.tally.handshakes.fetch_add(1, Ordering::Relaxed);
        let body = bayeux::handshake(self.id(), false);
        let r = match self.link.handshake(body).await {
            Ok(r) => r,
            Err(e) => {
                self.sh
                    .tally
                    .handshake_errors
                    .fetch_add(1, Ordering::Relaxed);
                self.note("handshake", &e);
                self.fail();
                let delay = self.advice.interval() + self.backoff;
                self.increase_backoff();
                return Some((Next::Handshake, delay));
            }
        };
        self.take_advice(&r);
        if r.successful {
            self.client_id = r.client_id.unwrap_or_default();
            self.backoff = 0;
            self.permit = None;
            return Some((Next::Connect, self.advice.interval()));
        }
        self.sh
            .tally
            .handshakes_refused
            .fetch_add(1, Ordering::Relaxed);
        self.note(
            "handshake refused",
            &anyhow!("{}", r.error.as_deref().unwrap_or("?")),
        );
        self.fail();
        if self.advice.action("handshake") == "none" {
            return None;
        }
        let delay = self.advice.interval() + self.backoff;
        self.increase_backoff();
        Some((Next::Handshake, delay))
    }

    /// One `/meta/connect` (and, when the session has no subscription yet, the subscribe
    /// after it), and what comes next.
    async fn connect(&mut self, blip: &mut watch::Receiver<u64>) -> Option<(Next, u64)> {
        let first = !self.connected;
        let id = self.id();
        let body = bayeux::connect(&self.client_id, self.sh.transport, id, first, None);
        let limit = if first {
            NETWORK_DELAY
        } else {
            Duration::from_millis(self.advice.timeout_ms) + NETWORK_DELAY
        };
        let r = match self.request(body, "/meta/connect", limit, blip).await {
            Ok(r) => r,
            Err(e) => {
                self.sh.tally.request_errors.fetch_add(1, Ordering::Relaxed);
                self.note("connect", &e);
                return Some(self.connect_failed());
            }
        };
        self.unconnected_since = None;
        self.take_advice(&r);
        if !r.successful {
            return self.unsuccessful("connect", &r);
        }
        self.connected = true;
        self.backoff = 0;
        if !self.subscribed {
            let id = self.id();
            let body = bayeux::subscribe(&self.client_id, &self.sh.channel, id);
            match self
                .request(body, "/meta/subscribe", NETWORK_DELAY, blip)
                .await
            {
                Ok(r) if r.successful => self.subscribed = true,
                Ok(r) => {
                    self.take_advice(&r);
                    return self.unsuccessful("subscribe", &r);
                }
                Err(e) => {
                    self.sh.tally.request_errors.fetch_add(1, Ordering::Relaxed);
                    self.note("subscribe", &e);
                    return Some(self.connect_failed());
                }
            }
        }
        self.ready();
        Some((Next::Connect, self.advice.interval()))
    }

    /// A failed connect: retry with backoff, or handshake once the session must be gone.
    fn connect_failed(&mut self) -> (Next, u64) {
        self.connected = false;
        self.fail();
        let since = *self.unconnected_since.get_or_insert_with(Instant::now);
        let backoff = self.increase_backoff();
        let a = &self.advice;
        let expiry = a.timeout_ms + a.interval() + a.max_interval_ms;
        if a.max_interval_ms > 0 && since.elapsed().as_millis() as u64 + backoff > expiry {
            self.backoff = 0;
            return (Next::Handshake, self.advice.interval());
        }
        (Next::Connect, self.advice.interval() + backoff)
    }

    /// An unsuccessful connect or subscribe: do as its advice says.
    fn unsuccessful(&mut self, what: &str, r: &Reply) -> Option<(Next, u64)> {
        self.sh.tally.unsuccessful.fetch_add(1, Ordering::Relaxed);
        self.note(
            what,
            &anyhow!("unsuccessful: {}", r.error.as_deref().unwrap_or("?")),
        );
        match self.advice.action("retry") {
            "handshake" => {
                self.connected = false;
                self.fail();
                self.backoff = 0;
                Some((Next::Handshake, self.advice.interval()))
            }
            "none" => None,
            _ => Some(self.connect_failed()),
        }
    }

    /// Sends one message and waits for its reply on `channel`, within `limit`; a network
    /// blip (or any failure) closes the client's connection.
    async fn request(
        &mut self,
        body: String,
        channel: &str,
        limit: Duration,
        blip: &mut watch::Receiver<u64>,
    ) -> Result<Reply> {
        let res = tokio::select! {
            r = self.link.request(body, channel, limit) => r,
            _ = blip.changed() => Err(anyhow!("network blip: connection dropped")),
        };
        if res.is_err() {
            self.link.close();
        }
        res
    }
}
