//! A storm worker process (`herald-bench storm-worker`): its share of the clients, every
//! connection from its own loopback source address, so a server's per-address limits see
//! each worker as one address among several.
//!
//! Line protocol (JSON, one object a line): the parent writes the [`Plan`]; the worker sets
//! its clients up and says [`Event::Ready`]. [`Command::Arm`] starts the watch (failures from
//! then on make a client down, and its return is timed) and is answered with
//! [`Event::Armed`]; from then the worker sends [`Event::Progress`] every 250 ms.
//! [`Command::Blip`] drops every connection at once; [`Command::Collect`] asks for the
//! [`Event::Result`]. End of input or [`Command::Stop`] ends the process, and so does the
//! plan's deadline.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{watch, Semaphore};

use crate::bayeux::Transport;
use crate::target::Target;
use crate::worker::emit;

/// What one worker runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub worker: usize,
    pub url: String,
    pub transport: Transport,
    pub src: Ipv4Addr,
    /// Every request says it comes from this address through a local proxy
    /// (`X-Forwarded-For`), the address a server's per-address limits then count.
    pub forwarded_for: Option<Ipv4Addr>,
    pub clients: usize,
    /// The channel every client subscribes to.
    pub channel: String,
    /// Clients whose first handshake is under way at once.
    pub setup_concurrency: usize,
    /// Ready is reported when every client is set up, or after this long.
    pub setup_ms: u64,
    /// The process exits by itself after this long, whatever happens.
    pub deadline_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    Arm,
    Blip,
    Collect,
    Stop,
}

/// What the clients of a worker went through since the drop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    pub handshakes: u64,
    /// Handshakes answered `successful: false` (a rate limit, a full server).
    pub handshakes_refused: u64,
    /// Handshakes that failed in transport: refused, reset, no answer, not 200.
    pub handshake_errors: u64,
    /// Connects and subscribes that failed in transport.
    pub request_errors: u64,
    /// Connects and subscribes answered `successful: false` (an unknown session, mostly).
    pub unsuccessful: u64,
    /// Clients told `reconnect: none`, which stop.
    pub gave_up: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    Ready {
        worker: usize,
        ready: usize,
        first_error: Option<String>,
    },
    Armed {
        worker: usize,
    },
    Progress {
        worker: usize,
        back: usize,
    },
    Result {
        worker: usize,
        /// When each client was back (µs since the UNIX epoch), 0 if it was not.
        back_us: Vec<u64>,
        counts: Counts,
        first_error: Option<String>,
    },
}

#[derive(Default)]
pub struct Tally {
    pub handshakes: AtomicU64,
    pub handshakes_refused: AtomicU64,
    pub handshake_errors: AtomicU64,
    pub request_errors: AtomicU64,
    pub unsuccessful: AtomicU64,
    pub gave_up: AtomicU64,
}

impl Tally {
    fn counts(&self) -> Counts {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            handshakes: g(&self.handshakes),
            handshakes_refused: g(&self.handshakes_refused),
            handshake_errors: g(&self.handshake_errors),
            request_errors: g(&self.request_errors),
            unsuccessful: g(&self.unsuccessful),
            gave_up: g(&self.gave_up),
        }
    }
}

impl Counts {
    /// What happened between `before` and `self`.
    fn since(&self, before: &Counts) -> Counts {
        Counts {
            handshakes: self.handshakes - before.handshakes,
            handshakes_refused: self.handshakes_refused - before.handshakes_refused,
            handshake_errors: self.handshake_errors - before.handshake_errors,
            request_errors: self.request_errors - before.request_errors,
            unsuccessful: self.unsuccessful - before.unsuccessful,
            gave_up: self.gave_up - before.gave_up,
        }
    }

    /// Adds another worker's counts.
    pub fn add(&mut self, o: &Counts) {
        self.handshakes += o.handshakes;
        self.handshakes_refused += o.handshakes_refused;
        self.handshake_errors += o.handshake_errors;
        self.request_errors += o.request_errors;
        self.unsuccessful += o.unsuccessful;
        self.gave_up += o.gave_up;
    }
}

/// What the clients of a worker share.
pub struct Shared {
    pub target: Target,
    pub src: Ipv4Addr,
    pub forwarded_for: Option<String>,
    pub transport: Transport,
    pub channel: String,
    /// Set by [`Command::Arm`]: failures from now on are the drop's.
    pub armed: AtomicBool,
    pub back_us: Vec<AtomicU64>,
    /// Clients that have been connected and subscribed at least once.
    pub ready: AtomicUsize,
    pub tally: Tally,
    pub setup: Arc<Semaphore>,
    pub first_error: Mutex<Option<String>>,
}

/// Entry point of `herald-bench storm-worker`.
pub fn main() -> Result<()> {
    crate::worker::run_process(run())
}

async fn run() -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    let first = lines.next_line().await?;
    let plan: Plan =
        serde_json::from_str(&first.context("no plan on stdin (run by herald-bench storm)")?)?;
    let deadline = Duration::from_millis(plan.deadline_ms);
    let worker = plan.worker;
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!("herald-bench storm worker {worker}: hard deadline reached, exiting");
        std::process::exit(70);
    });
    let sh = Arc::new(Shared {
        target: Target::parse(&plan.url)?,
        src: plan.src,
        forwarded_for: plan.forwarded_for.map(|a| a.to_string()),
        transport: plan.transport,
        channel: plan.channel.clone(),
        armed: AtomicBool::new(false),
        back_us: (0..plan.clients).map(|_| AtomicU64::new(0)).collect(),
        ready: AtomicUsize::new(0),
        tally: Tally::default(),
        setup: Arc::new(Semaphore::new(plan.setup_concurrency.max(1))),
        first_error: Mutex::new(None),
    });
    let (blip_tx, blip_rx) = watch::channel(0u64);
    for local in 0..plan.clients {
        tokio::spawn(super::client::run(sh.clone(), local, blip_rx.clone()));
    }
    let began = Instant::now();
    let setup_bound = Duration::from_millis(plan.setup_ms);
    while sh.ready.load(Ordering::Relaxed) < plan.clients && began.elapsed() < setup_bound {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_error = sh.first_error.lock().unwrap().take();
    let ready = sh.ready.load(Ordering::Relaxed);
    emit(
        &mut out,
        &Event::Ready {
            worker,
            ready,
            first_error,
        },
    )
    .await?;

    let mut base = Counts::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                match serde_json::from_str::<Command>(&line)? {
                    Command::Arm => {
                        base = sh.tally.counts();
                        sh.first_error.lock().unwrap().take();
                        sh.armed.store(true, Ordering::Relaxed);
                        emit(&mut out, &Event::Armed { worker }).await?;
                    }
                    Command::Blip => {
                        blip_tx.send_modify(|g| *g += 1);
                    }
                    Command::Collect => {
                        let back_us = sh.back_us.iter().map(|b| b.load(Ordering::Relaxed)).collect();
                        let counts = sh.tally.counts().since(&base);
                        let first_error = sh.first_error.lock().unwrap().clone();
                        emit(&mut out, &Event::Result { worker, back_us, counts, first_error }).await?;
                    }
                    Command::Stop => break,
                }
            }
            _ = tick.tick(), if sh.armed.load(Ordering::Relaxed) => {
                let back = sh.back_us.iter().filter(|b| b.load(Ordering::Relaxed) > 0).count();
                emit(&mut out, &Event::Progress { worker, back }).await?;
            }
        }
    }
    std::process::exit(0);
}
