//! A soak worker process: its share of the subscribers and publishers, and the line
//! protocol with the coordinator (JSON lines: [`Cmd`] on stdin, [`Ev`] on stdout).
//!
//! Order: plan → [`Ev::Ready`]; [`Cmd::Go`] opens the publishing and churn window →
//! [`Ev::Published`] when this worker's publishers are done; [`Cmd::Final`] with every
//! publisher's count → the worker waits until its subscribers have everything (or no
//! delivery comes for a while) → [`Ev::Result`]; [`Cmd::Leave`] → every client disconnects →
//! [`Ev::Left`]; then [`Cmd::Join`] / [`Cmd::Leave`] per memory cycle; [`Cmd::Exit`].

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::bayeux::Parsed;
use crate::soak_book::{Book, Tally};
use crate::soak_client::subscriber;
use crate::soak_pub::{publisher, Published};
use crate::soak_wire::Kind;
use crate::target::Target;

/// What one worker runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub worker: usize,
    pub url: String,
    pub src: Ipv4Addr,
    /// Its subscribers: (class, global number); the channel is the number modulo `channels`.
    pub clients: Vec<(Kind, usize)>,
    pub channels: usize,
    /// The channels whose publisher runs here.
    pub publishes: Vec<usize>,
    /// Messages/s per channel.
    pub rate: f64,
    /// Mean seconds between two churn events of one client.
    pub churn_mean: f64,
    pub payload: usize,
    pub setup_concurrency: usize,
    pub deadline_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Cmd {
    Go {
        duration_ms: u64,
    },
    Final {
        finals: Vec<u64>,
        wait_ms: u64,
        quiet_ms: u64,
    },
    Leave,
    /// A memory cycle: these subscribers (no churn, no publishing) join.
    Join {
        cycle: u32,
        clients: Vec<(Kind, usize)>,
    },
    Exit,
}

/// Per-class counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    pub connects: u64,
    pub ack_batches: u64,
    pub ack_refused: u64,
    pub drops: u64,
    pub switches: u64,
    pub quits: u64,
    pub errors: u64,
    pub failures: u64,
    pub rehandshakes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Ev {
    Ready { ready: usize, failed: usize },
    Published { publishers: Vec<Published> },
    Result(WorkerResult),
    Left,
    Joined { ready: usize, failed: usize },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerResult {
    pub by_class: Vec<Tally>,
    pub by_channel: Vec<Tally>,
    pub counts: Vec<Counts>,
    pub foreign: u64,
    pub drain_ms: u64,
    pub first_error: Option<String>,
}

/// The worker's phase, as the clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Leave,
    Cycle(u32),
}

impl Mode {
    pub fn leaving(&self) -> bool {
        *self == Mode::Leave
    }
}

/// Resolves once the clients must leave (a future that is `Send`, unlike the watch's guard).
pub async fn leaving(mode: &mut watch::Receiver<Mode>) {
    let _ = mode.wait_for(Mode::leaving).await;
}

/// A small xorshift generator: churn needs no more, and a seed per client keeps runs alike.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Default)]
pub struct AtomicCounts {
    pub connects: AtomicU64,
    pub ack_batches: AtomicU64,
    pub ack_refused: AtomicU64,
    pub drops: AtomicU64,
    pub switches: AtomicU64,
    pub quits: AtomicU64,
    pub errors: AtomicU64,
    pub failures: AtomicU64,
    pub rehandshakes: AtomicU64,
}

impl AtomicCounts {
    fn snapshot(&self) -> Counts {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            connects: l(&self.connects),
            ack_batches: l(&self.ack_batches),
            ack_refused: l(&self.ack_refused),
            drops: l(&self.drops),
            switches: l(&self.switches),
            quits: l(&self.quits),
            errors: l(&self.errors),
            failures: l(&self.failures),
            rehandshakes: l(&self.rehandshakes),
        }
    }
}

/// What every task of the worker shares.
pub struct Ctx {
    pub target: Target,
    pub src: Ipv4Addr,
    pub plan: Plan,
    pub mode: watch::Receiver<Mode>,
    pub book: Mutex<Book>,
    counts: [AtomicCounts; 4],
    foreign: AtomicU64,
    first_error: Mutex<Option<String>>,
    last_delivery: Mutex<Instant>,
    /// The publishing and churn window, once `Go` came.
    window: OnceLock<(Instant, Instant)>,
    pub setup: Semaphore,
    pub ready_tx: mpsc::UnboundedSender<bool>,
}

impl Ctx {
    pub fn counters(&self, kind: Kind) -> &AtomicCounts {
        &self.counts[kind.index()]
    }

    pub fn channel_name(&self, channel: usize) -> String {
        format!("/soak/{channel}")
    }

    fn note(&self, what: String) {
        self.first_error.lock().unwrap().get_or_insert(what);
    }

    pub fn error(&self, kind: Kind, what: &str, e: &anyhow::Error) {
        self.counters(kind).errors.fetch_add(1, Ordering::Relaxed);
        self.note(format!("{} {what}: {e:#}", kind.as_str()));
    }

    pub fn failure(&self, kind: Kind, what: &str, error: Option<&str>) {
        self.counters(kind).failures.fetch_add(1, Ordering::Relaxed);
        self.note(format!(
            "{} {what}: {}",
            kind.as_str(),
            error.unwrap_or("?")
        ));
    }

    /// Records deliveries into account `acct`.
    pub fn record(&self, acct: usize, p: &Parsed) {
        if p.deliveries.is_empty() {
            return;
        }
        let mut book = self.book.lock().unwrap();
        let Some(a) = book.accounts.get_mut(acct) else {
            return;
        };
        for d in &p.deliveries {
            if d.p as usize == a.channel {
                a.see(d.seq);
            } else {
                self.foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
        *self.last_delivery.lock().unwrap() = Instant::now();
    }

    /// When a client's next churn event is due: exponential with the plan's mean (so
    /// drawing again at any moment changes nothing), never outside the window; `None`
    /// before the window opens.
    pub fn churn_at(&self, rng: &mut Rng) -> Option<Instant> {
        let (start, end) = *self.window.get()?;
        let wait = -self.plan.churn_mean * (1.0 - rng.unit()).ln();
        let at = Instant::now().max(start) + Duration::from_secs_f64(wait.min(86_400.0));
        Some(if at >= end {
            Instant::now() + Duration::from_secs(86_400)
        } else {
            at
        })
    }

    pub fn window(&self) -> Option<(Instant, Instant)> {
        self.window.get().copied()
    }
}

async fn emit(out: &mut tokio::io::Stdout, ev: &Ev) -> Result<()> {
    let mut line = serde_json::to_string(ev)?;
    line.push('\n');
    out.write_all(line.as_bytes()).await?;
    out.flush().await?;
    Ok(())
}

/// Entry point of `herald-bench soak-worker`.
pub fn main() -> Result<()> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn count_ready(rx: &mut mpsc::UnboundedReceiver<bool>, n: usize) -> (usize, usize) {
    let (mut ok, mut failed) = (0, 0);
    while ok + failed < n {
        match rx.recv().await {
            Some(true) => ok += 1,
            Some(false) => failed += 1,
            None => break,
        }
    }
    (ok, failed)
}

async fn run() -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    let plan: Plan = serde_json::from_str(&lines.next_line().await?.context("no plan")?)?;
    let deadline = Duration::from_millis(plan.deadline_ms);
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!("soak worker: hard deadline reached, exiting");
        std::process::exit(70);
    });
    let (mode_tx, mode_rx) = watch::channel(Mode::Run);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Ctx {
        target: Target::parse(&plan.url)?,
        src: plan.src,
        mode: mode_rx,
        book: Mutex::new(Book::default()),
        counts: Default::default(),
        foreign: AtomicU64::new(0),
        first_error: Mutex::new(None),
        last_delivery: Mutex::new(Instant::now()),
        window: OnceLock::new(),
        setup: Semaphore::new(plan.setup_concurrency.max(1)),
        ready_tx,
        plan,
    });
    let mut clients = JoinSet::new();
    for (i, &(class, g)) in ctx.plan.clients.iter().enumerate() {
        let seed = (ctx.plan.worker as u64) << 32 | i as u64;
        clients.spawn(subscriber(ctx.clone(), class, g % ctx.plan.channels, seed));
    }
    let (ready, failed) = count_ready(&mut ready_rx, ctx.plan.clients.len()).await;
    emit(&mut out, &Ev::Ready { ready, failed }).await?;
    let mut pubs = JoinSet::new();
    while let Some(line) = lines.next_line().await? {
        match serde_json::from_str::<Cmd>(&line)? {
            Cmd::Go { duration_ms } => {
                let now = Instant::now();
                let _ = ctx
                    .window
                    .set((now, now + Duration::from_millis(duration_ms)));
                for &c in &ctx.plan.publishes {
                    pubs.spawn(publisher(ctx.clone(), c));
                }
                let mut publishers = Vec::new();
                while let Some(p) = pubs.join_next().await {
                    publishers.extend(p.ok());
                }
                emit(&mut out, &Ev::Published { publishers }).await?;
            }
            Cmd::Final {
                finals,
                wait_ms,
                quiet_ms,
            } => {
                let began = Instant::now();
                loop {
                    let quiet = ctx.last_delivery.lock().unwrap().elapsed();
                    if ctx.book.lock().unwrap().complete(&finals)
                        || quiet >= Duration::from_millis(quiet_ms)
                        || began.elapsed() >= Duration::from_millis(wait_ms)
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let (by_class, by_channel) = ctx.book.lock().unwrap().tally(&finals);
                let result = WorkerResult {
                    by_class,
                    by_channel,
                    counts: ctx.counts.iter().map(AtomicCounts::snapshot).collect(),
                    foreign: ctx.foreign.load(Ordering::Relaxed),
                    drain_ms: began.elapsed().as_millis() as u64,
                    first_error: ctx.first_error.lock().unwrap().clone(),
                };
                emit(&mut out, &Ev::Result(result)).await?;
            }
            Cmd::Leave => {
                mode_tx.send_replace(Mode::Leave);
                while clients.join_next().await.is_some() {}
                emit(&mut out, &Ev::Left).await?;
            }
            Cmd::Join { cycle, clients: cs } => {
                mode_tx.send_replace(Mode::Cycle(cycle));
                for (i, &(class, g)) in cs.iter().enumerate() {
                    let seed = (cycle as u64) << 48 | (ctx.plan.worker as u64) << 32 | i as u64;
                    clients.spawn(subscriber(ctx.clone(), class, g % ctx.plan.channels, seed));
                }
                let (ready, failed) = count_ready(&mut ready_rx, cs.len()).await;
                emit(&mut out, &Ev::Joined { ready, failed }).await?;
            }
            Cmd::Exit => break,
        }
    }
    mode_tx.send_replace(Mode::Leave);
    std::process::exit(0);
}
