//! A worker process: it runs its share of the simulated clients (one tokio task per client,
//! on a current-thread runtime, every connection from its own loopback source address) and
//! follows the parent's commands on stdin, answering with JSON lines on stdout.
//!
//! Line protocol: the parent writes the [`WorkerPlan`]; the worker sets its clients up and
//! says [`Event::Ready`]. Then, per phase: [`Command::Go`] → the local publishers publish →
//! [`Event::Published`] with their counts; [`Command::Drain`] with every publisher's count →
//! the worker waits until each of its receivers has what it should (or the drain time runs
//! out) → [`Event::Result`]. [`Command::Stop`] (or stdin closing) ends the process, and so
//! does the hard deadline in the plan.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::bayeux::{self, AckState, Parsed, ReplyKind, Transport};
use crate::http::HttpConn;
use crate::stats::{self, Seen, MAX_SEQ};
use crate::target::{tcp_connect, Target};

/// How clients and channels are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// Clients `0..n` subscribe to one channel; client `n` (in worker 0) publishes to it.
    Fanout,
    /// Clients are in rooms of `room_size` (client i in room i / room_size); each subscribes
    /// to its room's channel and publishes to it.
    Chat,
}

/// What one worker does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerPlan {
    pub worker: usize,
    pub url: String,
    pub transport: Transport,
    pub shape: Shape,
    /// The fanout channel, or the prefix of the room channels.
    pub channel: String,
    /// The source address of every connection of this worker.
    pub src: Ipv4Addr,
    /// The global client numbers this worker runs: `lo..hi`.
    pub lo: usize,
    pub hi: usize,
    pub n: usize,
    pub room_size: usize,
    /// Whether this worker also runs the fanout publisher (client number `n`).
    pub publisher: bool,
    /// Long-polling connections the fanout publisher spreads its publishes over.
    pub pub_conns: usize,
    /// Bytes of padding in each message's data.
    pub payload: usize,
    /// Clients setting up at the same time.
    pub setup_concurrency: usize,
    /// Clients ask for acknowledged delivery (the `ack` extension).
    pub ack: bool,
    /// The worker exits by itself after this long, whatever happens.
    pub deadline_ms: u64,
}

/// A command from the parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Publish: fanout at `rate` messages/s in total, chat at `rate` messages/s per client,
    /// for `duration_ms`.
    Go {
        phase: u32,
        rate: f64,
        duration_ms: u64,
    },
    /// Every publisher's count for the phase; wait for the deliveries up to `wait_ms`, or
    /// until none has come for `quiet_ms`.
    Drain {
        phase: u32,
        counts: Vec<(u64, u64)>,
        wait_ms: u64,
        quiet_ms: u64,
    },
    Stop,
}

/// Cumulative error counters of a worker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Transport failures: refused or broken connections, timeouts, bad HTTP status.
    pub errors: u64,
    /// Replies with `successful: false` (not counting the ones that asked for a handshake).
    pub failures: u64,
    /// Sessions the server dropped (`reconnect: handshake`) or that had to be set up again.
    pub rehandshakes: u64,
    /// `/meta/connect` round trips.
    pub connects: u64,
    /// Events whose data was not a benchmark stamp.
    pub other_events: u64,
    /// With `ack`: connect replies that carried a batch number (acknowledged delivery at work).
    pub ack_batches: u64,
    /// With `ack`: handshakes the server answered without granting acknowledged delivery
    /// (those sessions go on without it, as the CometD client's do).
    pub ack_refused: u64,
    pub first_error: Option<String>,
}

/// What a phase looked like from one worker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseResult {
    pub phase: u32,
    pub expected: u64,
    pub received: u64,
    pub duplicates: u64,
    /// Deliveries stamped with another phase (late ones).
    pub stale: u64,
    /// Deliveries from a publisher the receiver should not hear.
    pub foreign: u64,
    pub drain_ms: u64,
    /// When the last new delivery arrived, ms after the phase began.
    pub last_delivery_ms: u64,
    pub hist: Vec<(u64, u64)>,
    pub counters: Counters,
}

/// A worker's report to the parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    Ready {
        worker: usize,
        ready: usize,
        failed: usize,
        setup_ms: u64,
        first_error: Option<String>,
    },
    Published {
        phase: u32,
        counts: Vec<(u64, u64)>,
        errors: u64,
        elapsed_ms: u64,
    },
    Result(PhaseResult),
}

/// Microseconds since the UNIX epoch (the clock every process of the run shares).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
struct PhaseCmd {
    phase: u32,
    rate: f64,
    duration: Duration,
    start: Instant,
}

struct PubDone {
    publisher: u64,
    count: u64,
    errors: u64,
    elapsed: Duration,
}

struct PhaseStats {
    phase: u32,
    hist: hdrhistogram::Histogram<u64>,
    seen: Vec<Vec<Seen>>,
    unique: u64,
    dups: u64,
    stale: u64,
    foreign: u64,
    started: Instant,
    last_delivery: Option<Instant>,
}

#[derive(Default)]
struct AtomicCounters {
    errors: AtomicU64,
    failures: AtomicU64,
    rehandshakes: AtomicU64,
    connects: AtomicU64,
    other_events: AtomicU64,
    ack_batches: AtomicU64,
    ack_refused: AtomicU64,
}

struct Shared {
    plan: WorkerPlan,
    target: Target,
    pad: String,
    stats: Mutex<PhaseStats>,
    counters: AtomicCounters,
    first_error: Mutex<Option<String>>,
    stop: watch::Receiver<bool>,
    phase: watch::Receiver<Option<PhaseCmd>>,
    setup: Semaphore,
    ready_receivers: Mutex<Vec<usize>>,
    setup_tx: mpsc::UnboundedSender<Result<(), String>>,
    done_tx: mpsc::UnboundedSender<PubDone>,
}

/// One simulated client's part.
#[derive(Debug, Clone)]
struct Spec {
    /// Global number (the publisher number in stamps).
    id: u64,
    /// Index among this worker's receivers, when it subscribes.
    local: Option<usize>,
    subscribe: Option<String>,
    publish: Option<String>,
    pub_conns: usize,
}

impl Shared {
    fn note_error(&self, what: &str, e: &anyhow::Error) {
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(format!("{what}: {e:#}"));
        }
    }

    fn error(&self, what: &str, e: &anyhow::Error) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        self.note_error(what, e);
    }

    fn failure(&self, what: &str, error: Option<&str>) {
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(format!("{what}: unsuccessful: {}", error.unwrap_or("?")));
        }
    }

    fn counters(&self) -> Counters {
        let c = &self.counters;
        Counters {
            errors: c.errors.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            rehandshakes: c.rehandshakes.load(Ordering::Relaxed),
            connects: c.connects.load(Ordering::Relaxed),
            other_events: c.other_events.load(Ordering::Relaxed),
            ack_batches: c.ack_batches.load(Ordering::Relaxed),
            ack_refused: c.ack_refused.load(Ordering::Relaxed),
            first_error: self.first_error.lock().unwrap().clone(),
        }
    }

    fn slot(&self, receiver: usize, publisher: u64) -> Option<usize> {
        slot(&self.plan, receiver, publisher)
    }

    /// Takes in a response: the ack extension reads its replies (as the CometD client's
    /// `AckExtension` reads every incoming message), then the deliveries are recorded.
    fn take_in(&self, local: Option<usize>, ident: &Ident, parsed: &Parsed) {
        if self.plan.ack {
            let mut ack = ident.ack.lock().unwrap();
            for r in &parsed.replies {
                let counter = match r.kind {
                    ReplyKind::Handshake => {
                        ack.handshake(r);
                        (!ack.granted()).then_some(&self.counters.ack_refused)
                    }
                    ReplyKind::Connect => ack.connect(r).then_some(&self.counters.ack_batches),
                    _ => None,
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.record(local, parsed);
    }

    /// Records what a receiver got.
    fn record(&self, local: Option<usize>, parsed: &Parsed) {
        if parsed.other_events > 0 {
            self.counters
                .other_events
                .fetch_add(parsed.other_events as u64, Ordering::Relaxed);
        }
        if parsed.deliveries.is_empty() {
            return;
        }
        let now = now_us();
        let Some(local) = local else {
            return;
        };
        let receiver = self.plan.lo + local;
        let mut st = self.stats.lock().unwrap();
        let st = &mut *st;
        for d in &parsed.deliveries {
            if st.phase == 0 || d.ph != st.phase {
                st.stale += 1;
                continue;
            }
            let Some(slot) = self.slot(receiver, d.p).filter(|_| d.seq < MAX_SEQ) else {
                st.foreign += 1;
                continue;
            };
            let seen = &mut st.seen[local];
            if seen.len() <= slot {
                seen.resize(slot + 1, Seen::default());
            }
            if seen[slot].insert(d.seq) {
                st.unique += 1;
                st.last_delivery = Some(Instant::now());
                st.hist.saturating_record(now.saturating_sub(d.ts).max(1));
            } else {
                st.dups += 1;
            }
        }
    }

    fn expected_for(&self, receiver: usize, counts: &HashMap<u64, u64>) -> u64 {
        expected_for(&self.plan, receiver, counts)
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

/// Which of `receiver`'s publishers `publisher` is, if the receiver should hear it at all.
fn slot(plan: &WorkerPlan, receiver: usize, publisher: u64) -> Option<usize> {
    match plan.shape {
        Shape::Fanout => (publisher == plan.n as u64).then_some(0),
        Shape::Chat => {
            let k = plan.room_size;
            let base = (receiver / k * k) as u64;
            let end = ((receiver / k + 1) * k).min(plan.n) as u64;
            (base..end)
                .contains(&publisher)
                .then(|| (publisher - base) as usize)
        }
    }
}

/// Deliveries `receiver` should have had, given every publisher's count.
fn expected_for(plan: &WorkerPlan, receiver: usize, counts: &HashMap<u64, u64>) -> u64 {
    let count = |p: u64| counts.get(&p).copied().unwrap_or(0);
    match plan.shape {
        Shape::Fanout => count(plan.n as u64),
        Shape::Chat => {
            let k = plan.room_size;
            let base = receiver / k * k;
            let end = (base + k).min(plan.n);
            (base..end).map(|p| count(p as u64)).sum()
        }
    }
}

/// Entry point of `herald-bench worker`.
pub fn main() -> Result<()> {
    run_process(run())
}

/// Runs a worker process's `body` on one thread, with as many files as the hard limit allows.
pub fn run_process(body: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(body)
}

/// Writes one event to the parent, as a JSON line.
pub async fn emit(out: &mut tokio::io::Stdout, ev: &impl Serialize) -> Result<()> {
    let mut line = serde_json::to_string(ev)?;
    line.push('\n');
    out.write_all(line.as_bytes()).await?;
    out.flush().await?;
    Ok(())
}

async fn run() -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    let plan: WorkerPlan = serde_json::from_str(
        &lines
            .next_line()
            .await?
            .context("no plan on stdin (this subcommand is run by herald-bench itself)")?,
    )?;
    let deadline = Duration::from_millis(plan.deadline_ms);
    let worker = plan.worker;
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!("herald-bench worker {worker}: hard deadline reached, exiting");
        std::process::exit(70);
    });

    let target = Target::parse(&plan.url)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (phase_tx, phase_rx) = watch::channel(None);
    let (setup_tx, mut setup_rx) = mpsc::unbounded_channel();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let receivers = plan.hi - plan.lo;
    let shared = Arc::new(Shared {
        pad: "x".repeat(plan.payload),
        target,
        stats: Mutex::new(PhaseStats {
            phase: 0,
            hist: stats::new_histogram(),
            seen: vec![Vec::new(); receivers],
            unique: 0,
            dups: 0,
            stale: 0,
            foreign: 0,
            started: Instant::now(),
            last_delivery: None,
        }),
        counters: AtomicCounters::default(),
        first_error: Mutex::new(None),
        stop: stop_rx,
        phase: phase_rx,
        setup: Semaphore::new(plan.setup_concurrency.max(1)),
        ready_receivers: Mutex::new(Vec::new()),
        setup_tx,
        done_tx,
        plan,
    });

    // The clients.
    let plan = &shared.plan;
    let mut specs = Vec::with_capacity(receivers + 1);
    for i in plan.lo..plan.hi {
        let (sub, publish) = match plan.shape {
            Shape::Fanout => (Some(plan.channel.clone()), None),
            Shape::Chat => {
                let room = format!("{}/{}", plan.channel, i / plan.room_size);
                (Some(room.clone()), Some(room))
            }
        };
        specs.push(Spec {
            id: i as u64,
            local: Some(i - plan.lo),
            subscribe: sub,
            publish,
            pub_conns: 1,
        });
    }
    if plan.publisher {
        specs.push(Spec {
            id: plan.n as u64,
            local: None,
            subscribe: None,
            publish: Some(plan.channel.clone()),
            pub_conns: plan.pub_conns.max(1),
        });
    }
    let total = specs.len();
    let started = Instant::now();
    for spec in specs {
        let sh = shared.clone();
        match plan.transport {
            Transport::LongPolling => tokio::spawn(lp_client(sh, spec)),
            Transport::WebSocket => tokio::spawn(ws_client(sh, spec)),
        };
    }
    let (mut ready, mut failed) = (0usize, 0usize);
    let mut setup_error: Option<String> = None;
    while ready + failed < total {
        match setup_rx.recv().await {
            Some(Ok(())) => ready += 1,
            Some(Err(e)) => {
                failed += 1;
                setup_error.get_or_insert(e);
            }
            None => break,
        }
    }
    emit(
        &mut out,
        &Event::Ready {
            worker: plan.worker,
            ready,
            failed,
            setup_ms: started.elapsed().as_millis() as u64,
            first_error: setup_error,
        },
    )
    .await?;

    while let Some(line) = lines.next_line().await? {
        let cmd: Command = serde_json::from_str(&line)?;
        match cmd {
            Command::Go {
                phase,
                rate,
                duration_ms,
            } => {
                {
                    let mut st = shared.stats.lock().unwrap();
                    st.phase = phase;
                    st.hist.reset();
                    for s in st.seen.iter_mut() {
                        s.clear();
                    }
                    st.unique = 0;
                    st.dups = 0;
                    st.stale = 0;
                    st.foreign = 0;
                    st.started = Instant::now();
                    st.last_delivery = None;
                }
                let start = Instant::now();
                // Who publishes here this phase: every live publisher task holds a receiver
                // (the shared one aside).
                let live = phase_tx.receiver_count().saturating_sub(1);
                phase_tx.send_replace(Some(PhaseCmd {
                    phase,
                    rate,
                    duration: Duration::from_millis(duration_ms),
                    start,
                }));
                let mut counts = Vec::new();
                let mut errors = 0;
                let mut elapsed = Duration::ZERO;
                for _ in 0..live {
                    let Some(d) = done_rx.recv().await else { break };
                    counts.push((d.publisher, d.count));
                    errors += d.errors;
                    elapsed = elapsed.max(d.elapsed);
                }
                emit(
                    &mut out,
                    &Event::Published {
                        phase,
                        counts,
                        errors,
                        elapsed_ms: elapsed.as_millis() as u64,
                    },
                )
                .await?;
            }
            Command::Drain {
                phase,
                counts,
                wait_ms,
                quiet_ms,
            } => {
                let counts: HashMap<u64, u64> = counts.into_iter().collect();
                let expected: u64 = shared
                    .ready_receivers
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|&r| shared.expected_for(r, &counts))
                    .sum();
                let began = Instant::now();
                let limit = Duration::from_millis(wait_ms);
                let quiet = Duration::from_millis(quiet_ms);
                let (mut last_got, mut last_progress) = (u64::MAX, Instant::now());
                loop {
                    let got = shared.stats.lock().unwrap().unique;
                    if got != last_got {
                        (last_got, last_progress) = (got, Instant::now());
                    }
                    if got >= expected
                        || began.elapsed() >= limit
                        || last_progress.elapsed() >= quiet
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let result = {
                    let st = shared.stats.lock().unwrap();
                    PhaseResult {
                        phase,
                        expected,
                        received: st.unique,
                        duplicates: st.dups,
                        stale: st.stale,
                        foreign: st.foreign,
                        drain_ms: began.elapsed().as_millis() as u64,
                        last_delivery_ms: st
                            .last_delivery
                            .map_or(0, |t| t.duration_since(st.started).as_millis() as u64),
                        hist: stats::to_pairs(&st.hist),
                        counters: shared.counters(),
                    }
                };
                emit(&mut out, &Event::Result(result)).await?;
            }
            Command::Stop => break,
        }
    }
    stop_tx.send_replace(true);
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::process::exit(0);
}

/// A client's identity on the server, shared by its connections.
#[derive(Default)]
struct Ident {
    client_id: Mutex<String>,
    cookie: Mutex<Option<String>>,
    next_id: AtomicU64,
    ack: Mutex<AckState>,
}

impl Ident {
    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }
    fn client_id(&self) -> String {
        self.client_id.lock().unwrap().clone()
    }
    fn cookie(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }
    /// The next connect's `ext.ack`.
    fn ack(&self) -> Option<u64> {
        self.ack.lock().unwrap().outgoing()
    }
    fn take_cookie(&self, set: Option<String>) {
        if let Some(s) = set {
            *self.cookie.lock().unwrap() = Some(s);
        }
    }
}

/// How long to wait for a held connect: the advised timeout plus a margin.
fn connect_limit(timeout_ms: Option<u64>) -> Duration {
    Duration::from_millis(timeout_ms.unwrap_or(30_000) + 15_000)
}

const REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// POSTs one body on a long-polling connection and records any events in the answer.
async fn lp_post(
    sh: &Shared,
    conn: &mut HttpConn,
    ident: &Ident,
    local: Option<usize>,
    body: String,
    limit: Duration,
) -> Result<Parsed> {
    let cookie = ident.cookie();
    let reply = conn
        .post(&sh.target, body, cookie.as_deref(), limit)
        .await?;
    ident.take_cookie(reply.set_cookie);
    let parsed = bayeux::parse(&reply.body)?;
    sh.take_in(local, ident, &parsed);
    Ok(parsed)
}

/// Handshakes (over HTTP), returns the advised timeout.
async fn http_handshake(sh: &Shared, conn: &mut HttpConn, ident: &Ident) -> Result<Option<u64>> {
    let p = lp_post(
        sh,
        conn,
        ident,
        None,
        bayeux::handshake(ident.id(), sh.plan.ack),
        REQUEST_LIMIT,
    )
    .await?;
    let hs = p
        .reply(ReplyKind::Handshake)
        .context("no handshake reply")?;
    if !hs.successful {
        bail!("handshake failed: {}", hs.error.as_deref().unwrap_or("?"));
    }
    if sh.plan.transport == Transport::WebSocket
        && !hs
            .supported
            .as_ref()
            .is_some_and(|t| t.iter().any(|t| t == "websocket"))
    {
        bail!("the server does not offer websocket");
    }
    *ident.client_id.lock().unwrap() = hs.client_id.clone().context("no clientId")?;
    Ok(hs.timeout_ms)
}

/// Handshake, first connect and subscribe on a long-polling connection.
async fn lp_session(
    sh: &Shared,
    spec: &Spec,
    conn: &mut HttpConn,
    ident: &Ident,
) -> Result<Option<u64>> {
    let timeout = http_handshake(sh, conn, ident).await?;
    let cid = ident.client_id();
    let p = lp_post(
        sh,
        conn,
        ident,
        spec.local,
        bayeux::connect(&cid, Transport::LongPolling, ident.id(), true, ident.ack()),
        REQUEST_LIMIT,
    )
    .await?;
    match p.reply(ReplyKind::Connect) {
        Some(r) if r.successful => {}
        Some(r) => bail!(
            "first connect failed: {}",
            r.error.as_deref().unwrap_or("?")
        ),
        None => bail!("no reply to the first connect"),
    }
    if let Some(ch) = &spec.subscribe {
        let p = lp_post(
            sh,
            conn,
            ident,
            spec.local,
            bayeux::subscribe(&cid, ch, ident.id()),
            REQUEST_LIMIT,
        )
        .await?;
        match p.reply(ReplyKind::Subscribe) {
            Some(r) if r.successful => {}
            Some(r) => bail!("subscribe failed: {}", r.error.as_deref().unwrap_or("?")),
            None => bail!("no reply to subscribe"),
        }
    }
    Ok(timeout)
}

/// Ends a client's setup, whatever its transport: a failure is reported to the
/// coordinator (`None`: the client stops); a subscriber that is ready is counted.
fn setup_done<T>(sh: &Shared, spec: &Spec, setup: Result<T>) -> Option<T> {
    let ready = match setup {
        Ok(ready) => ready,
        Err(e) => {
            let _ = sh.setup_tx.send(Err(format!("{e:#}")));
            return None;
        }
    };
    if spec.subscribe.is_some() {
        sh.ready_receivers
            .lock()
            .unwrap()
            .push(sh.plan.lo + spec.local.unwrap_or(0));
    }
    Some(ready)
}

async fn lp_client(sh: Arc<Shared>, spec: Spec) {
    let ident = Arc::new(Ident::default());
    let permit = sh.setup.acquire().await;
    let setup = async {
        let mut conn = HttpConn::open(&sh.target, sh.plan.src).await?;
        let timeout = lp_session(&sh, &spec, &mut conn, &ident).await?;
        let mut pconns = Vec::new();
        if spec.publish.is_some() {
            for _ in 0..spec.pub_conns {
                pconns.push(HttpConn::open(&sh.target, sh.plan.src).await?);
            }
        }
        anyhow::Ok((conn, timeout, pconns))
    };
    let setup = setup.await;
    drop(permit);
    let Some((mut conn, mut timeout, pconns)) = setup_done(&sh, &spec, setup) else {
        return;
    };
    if spec.publish.is_some() {
        let phase_rx = sh.phase.clone();
        tokio::spawn(lp_publisher(
            sh.clone(),
            spec.clone(),
            ident.clone(),
            pconns,
            phase_rx,
        ));
    }
    let _ = sh.setup_tx.send(Ok(()));

    // The connect loop.
    let mut stop = sh.stop.clone();
    loop {
        if sh.stopped() {
            return;
        }
        let body = bayeux::connect(
            &ident.client_id(),
            Transport::LongPolling,
            ident.id(),
            false,
            ident.ack(),
        );
        let res = tokio::select! {
            _ = stop.changed() => return,
            r = lp_post(&sh, &mut conn, &ident, spec.local, body, connect_limit(timeout)) => r,
        };
        let mut redo = false;
        match res {
            Ok(p) => {
                sh.counters.connects.fetch_add(1, Ordering::Relaxed);
                match p.reply(ReplyKind::Connect) {
                    Some(r) if r.successful => {}
                    Some(r) if r.rehandshake => redo = true,
                    Some(r) => {
                        sh.failure("connect", r.error.as_deref());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    None => sh.failure("connect", Some("no connect reply")),
                }
            }
            Err(e) => {
                sh.error("connect", &e);
                tokio::time::sleep(Duration::from_millis(100)).await;
                match HttpConn::open(&sh.target, sh.plan.src).await {
                    Ok(c) => conn = c,
                    Err(e) => {
                        sh.error("reconnect", &e);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }
        while redo && !sh.stopped() {
            sh.counters.rehandshakes.fetch_add(1, Ordering::Relaxed);
            match lp_session(&sh, &spec, &mut conn, &ident).await {
                Ok(t) => {
                    timeout = t;
                    redo = false;
                }
                Err(e) => {
                    sh.error("rehandshake", &e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if let Ok(c) = HttpConn::open(&sh.target, sh.plan.src).await {
                        conn = c;
                    }
                }
            }
        }
    }
}

/// The publish schedule of one phase for one publisher.
struct Schedule {
    phase: u32,
    start: Instant,
    period: Duration,
    total: u64,
    /// A publisher that falls this far behind stops (the phase stays bounded in time).
    hard_end: Instant,
}

impl Schedule {
    fn new(sh: &Shared, spec: &Spec, cmd: &PhaseCmd) -> Schedule {
        let rate = cmd.rate.max(1e-6);
        let total = (rate * cmd.duration.as_secs_f64()).round() as u64;
        let period = Duration::from_secs_f64(1.0 / rate);
        // Chat clients start at spread-out offsets within one period (no synchronised bursts).
        let offset = match sh.plan.shape {
            Shape::Fanout => Duration::ZERO,
            Shape::Chat => {
                let h = spec.id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
                period.mul_f64((h as f64) / ((1u64 << 53) as f64))
            }
        };
        Schedule {
            phase: cmd.phase,
            start: cmd.start + offset,
            period,
            total,
            hard_end: cmd.start + cmd.duration * 2 + Duration::from_secs(5),
        }
    }

    fn at(&self, k: u64) -> Instant {
        self.start + self.period.mul_f64(k as f64)
    }
}

/// Publishes over long-polling connections: with W connections, connection j sends the
/// messages j, j+W, j+2W… at their scheduled times (or as soon as it is free, if late).
async fn lp_publisher(
    sh: Arc<Shared>,
    spec: Spec,
    ident: Arc<Ident>,
    mut conns: Vec<HttpConn>,
    mut phase_rx: watch::Receiver<Option<PhaseCmd>>,
) {
    let mut stop = sh.stop.clone();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = phase_rx.changed() => if r.is_err() { return },
        }
        let Some(cmd) = phase_rx.borrow_and_update().clone() else {
            continue;
        };
        let sched = Arc::new(Schedule::new(&sh, &spec, &cmd));
        let lanes = conns.len() as u64;
        let mut set = JoinSet::new();
        for (j, conn) in conns.drain(..).enumerate() {
            set.spawn(lp_lane(
                sh.clone(),
                spec.clone(),
                ident.clone(),
                conn,
                sched.clone(),
                j as u64,
                lanes,
            ));
        }
        let (mut count, mut errors) = (0, 0);
        let mut last = cmd.start;
        while let Some(r) = set.join_next().await {
            if let Ok((conn, c, e, l)) = r {
                conns.push(conn);
                count += c;
                errors += e;
                last = last.max(l);
            }
        }
        let _ = sh.done_tx.send(PubDone {
            publisher: spec.id,
            count,
            errors,
            elapsed: last - cmd.start,
        });
        if conns.is_empty() {
            return;
        }
    }
}

async fn lp_lane(
    sh: Arc<Shared>,
    spec: Spec,
    ident: Arc<Ident>,
    mut conn: HttpConn,
    sched: Arc<Schedule>,
    first: u64,
    step: u64,
) -> (HttpConn, u64, u64, Instant) {
    let channel = spec.publish.as_deref().unwrap_or("/");
    let (mut count, mut errors) = (0u64, 0u64);
    let mut last = sched.start;
    let mut k = first;
    while k < sched.total && !sh.stopped() && Instant::now() < sched.hard_end {
        sleep_until(sched.at(k).into()).await;
        if conn.is_stale() {
            match HttpConn::open(&sh.target, sh.plan.src).await {
                Ok(c) => conn = c,
                Err(e) => {
                    sh.error("publish reconnect", &e);
                    errors += 1;
                    k += step;
                    continue;
                }
            }
        }
        let data = bayeux::stamp(now_us(), spec.id, k, sched.phase, &sh.pad);
        let body = bayeux::publish(&ident.client_id(), channel, ident.id(), &data);
        last = Instant::now();
        match lp_post(&sh, &mut conn, &ident, spec.local, body, REQUEST_LIMIT).await {
            Ok(p) => match p.reply(ReplyKind::Publish) {
                Some(r) if r.successful => count += 1,
                Some(r) => {
                    errors += 1;
                    sh.failure("publish", r.error.as_deref());
                }
                None => {
                    errors += 1;
                    sh.failure("publish", Some("no publish reply"));
                }
            },
            Err(e) => {
                errors += 1;
                sh.error("publish", &e);
                if let Ok(c) = HttpConn::open(&sh.target, sh.plan.src).await {
                    conn = c;
                }
            }
        }
        k += step;
    }
    (conn, count, errors, last)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Handshakes over HTTP (the connection is closed after), then opens the WebSocket with the
/// session's cookie and sends the first connect and the subscribe.
async fn ws_session(sh: &Shared, spec: &Spec, ident: &Ident) -> Result<(Ws, Option<u64>)> {
    let timeout = {
        let mut conn = HttpConn::open(&sh.target, sh.plan.src).await?;
        http_handshake(sh, &mut conn, ident).await?
    };
    let stream = tcp_connect(sh.plan.src, sh.target.addr).await?;
    let mut req = sh.target.ws_url().into_client_request()?;
    if let Some(c) = ident.cookie() {
        req.headers_mut()
            .insert("cookie", HeaderValue::from_str(&c)?);
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio::time::timeout(
        REQUEST_LIMIT,
        tokio_tungstenite::client_async_with_config(req, stream, Some(config)),
    )
    .await
    .context("WebSocket upgrade timed out")?
    .context("WebSocket upgrade")?;
    let cid = ident.client_id();
    ws.send(Message::text(bayeux::connect(
        &cid,
        Transport::WebSocket,
        ident.id(),
        true,
        ident.ack(),
    )))
    .await?;
    if let Some(ch) = &spec.subscribe {
        ws.send(Message::text(bayeux::subscribe(&cid, ch, ident.id())))
            .await?;
    }
    Ok((ws, timeout))
}

/// Reads frames until the subscribe is answered (or, without a subscription, the first
/// connect), sending the next connect whenever one is answered.
async fn ws_wait_ready(sh: &Shared, spec: &Spec, ident: &Ident, ws: &mut Ws) -> Result<()> {
    let want = if spec.subscribe.is_some() {
        ReplyKind::Subscribe
    } else {
        ReplyKind::Connect
    };
    let work = async {
        loop {
            let frame = ws.next().await.context("socket closed")??;
            let Some(p) = ws_parse(&frame)? else { continue };
            sh.take_in(spec.local, ident, &p);
            for r in &p.replies {
                if r.kind == ReplyKind::Connect && r.successful {
                    let next = bayeux::connect(
                        &ident.client_id(),
                        Transport::WebSocket,
                        ident.id(),
                        false,
                        ident.ack(),
                    );
                    ws.send(Message::text(next)).await?;
                }
                if r.kind == want {
                    if !r.successful {
                        bail!("{want:?} failed: {}", r.error.as_deref().unwrap_or("?"));
                    }
                    return Ok(());
                }
            }
        }
    };
    tokio::time::timeout(REQUEST_LIMIT, work)
        .await
        .context("no subscribe reply in time")?
}

fn ws_parse(frame: &Message) -> Result<Option<Parsed>> {
    match frame {
        Message::Text(t) => Ok(Some(bayeux::parse(t.as_bytes())?)),
        Message::Binary(b) => Ok(Some(bayeux::parse(b)?)),
        Message::Close(c) => bail!("closed by the server: {c:?}"),
        _ => Ok(None),
    }
}

async fn ws_client(sh: Arc<Shared>, spec: Spec) {
    let ident = Ident::default();
    let permit = sh.setup.acquire().await;
    let setup = async {
        let (mut ws, timeout) = ws_session(&sh, &spec, &ident).await?;
        ws_wait_ready(&sh, &spec, &ident, &mut ws).await?;
        anyhow::Ok((ws, timeout))
    }
    .await;
    drop(permit);
    let Some((mut ws, mut timeout)) = setup_done(&sh, &spec, setup) else {
        return;
    };
    let _ = sh.setup_tx.send(Ok(()));

    let mut stop = sh.stop.clone();
    let publishes = spec.publish.is_some();
    // Only publishers hold a phase receiver: the worker counts them to know whom to wait for.
    let mut phase_rx = if publishes {
        sh.phase.clone()
    } else {
        watch::channel(None).1
    };
    let channel = spec.publish.clone().unwrap_or_default();
    let mut sched: Option<(Schedule, u64, u64, Instant, u64)> = None; // schedule, next k, sent, last, errors
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let mut connect_sent = Instant::now();
    loop {
        let next_at = sched.as_ref().map(|(s, k, ..)| s.at(*k)).unwrap_or(far);
        let held_limit = connect_sent + connect_limit(timeout);
        let mut broken: Option<anyhow::Error> = None;
        tokio::select! {
            _ = stop.changed() => return,
            r = phase_rx.changed(), if publishes => {
                if r.is_err() { return }
                if let Some(cmd) = phase_rx.borrow_and_update().clone() {
                    let s = Schedule::new(&sh, &spec, &cmd);
                    let start = s.start;
                    if s.total == 0 {
                        let _ = sh.done_tx.send(PubDone { publisher: spec.id, count: 0, errors: 0, elapsed: Duration::ZERO });
                    } else {
                        sched = Some((s, 0, 0, start, 0));
                    }
                }
            }
            _ = sleep_until(next_at.into()), if sched.is_some() => {
                let (s, k, sent, last, errs) = sched.as_mut().expect("scheduled");
                let data = bayeux::stamp(now_us(), spec.id, *k, s.phase, &sh.pad);
                let body = bayeux::publish(&ident.client_id(), &channel, ident.id(), &data);
                *last = Instant::now();
                match ws.send(Message::text(body)).await {
                    Ok(()) => *sent += 1,
                    Err(e) => { *errs += 1; broken = Some(e.into()); }
                }
                *k += 1;
                if *k >= s.total || Instant::now() >= s.hard_end {
                    let (s, _, sent, last, errs) = sched.take().expect("scheduled");
                    let _ = sh.done_tx.send(PubDone {
                        publisher: spec.id,
                        count: sent,
                        errors: errs,
                        elapsed: last.saturating_duration_since(s.start),
                    });
                }
            }
            _ = sleep_until(held_limit.into()) => {
                broken = Some(anyhow::anyhow!("no connect reply in time"));
            }
            frame = ws.next() => {
                let res = match frame {
                    None => Err(anyhow::anyhow!("socket closed")),
                    Some(Err(e)) => Err(e.into()),
                    Some(Ok(f)) => ws_parse(&f),
                };
                match res {
                    Ok(None) => {}
                    Ok(Some(p)) => {
                        sh.take_in(spec.local, &ident, &p);
                        for r in &p.replies {
                            match r.kind {
                                ReplyKind::Connect => {
                                    sh.counters.connects.fetch_add(1, Ordering::Relaxed);
                                    if r.rehandshake {
                                        broken = Some(anyhow::anyhow!("session dropped by the server"));
                                    } else {
                                        if !r.successful {
                                            sh.failure("connect", r.error.as_deref());
                                        }
                                        let next = bayeux::connect(&ident.client_id(), Transport::WebSocket, ident.id(), false, ident.ack());
                                        connect_sent = Instant::now();
                                        if let Err(e) = ws.send(Message::text(next)).await {
                                            broken = Some(e.into());
                                        }
                                    }
                                }
                                ReplyKind::Publish if !r.successful => {
                                    sh.failure("publish", r.error.as_deref());
                                }
                                _ if !r.successful && r.kind != ReplyKind::Publish => {
                                    sh.failure("meta", r.error.as_deref());
                                }
                                _ => {}
                            }
                        }
                    }
                    Err(e) => broken = Some(e),
                }
            }
        }
        if let Some(e) = broken {
            // Set everything up again: handshake, socket, subscribe.
            sh.error("websocket", &e);
            loop {
                if sh.stopped() {
                    return;
                }
                sh.counters.rehandshakes.fetch_add(1, Ordering::Relaxed);
                let again = async {
                    let (mut w, t) = ws_session(&sh, &spec, &ident).await?;
                    ws_wait_ready(&sh, &spec, &ident, &mut w).await?;
                    anyhow::Ok((w, t))
                }
                .await;
                match again {
                    Ok((w, t)) => {
                        ws = w;
                        timeout = t;
                        connect_sent = Instant::now();
                        break;
                    }
                    Err(e) => {
                        sh.error("websocket setup", &e);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(shape: Shape, n: usize, room_size: usize) -> WorkerPlan {
        WorkerPlan {
            worker: 0,
            url: "http://127.0.0.1:1/cometd".into(),
            transport: Transport::LongPolling,
            shape,
            channel: "/bench".into(),
            src: Ipv4Addr::new(127, 0, 0, 2),
            lo: 0,
            hi: n,
            n,
            room_size,
            publisher: true,
            pub_conns: 1,
            payload: 0,
            setup_concurrency: 1,
            ack: false,
            deadline_ms: 1000,
        }
    }

    #[test]
    fn fanout_hears_only_the_publisher() {
        let p = plan(Shape::Fanout, 10, 1);
        assert_eq!(slot(&p, 3, 10), Some(0));
        assert_eq!(slot(&p, 3, 4), None);
        let counts = HashMap::from([(10, 7)]);
        assert_eq!(expected_for(&p, 0, &counts), 7);
    }

    #[test]
    fn chat_hears_its_room_the_last_one_short() {
        let p = plan(Shape::Chat, 25, 10);
        assert_eq!(slot(&p, 12, 10), Some(0));
        assert_eq!(slot(&p, 12, 19), Some(9));
        assert_eq!(slot(&p, 12, 20), None);
        assert_eq!(slot(&p, 21, 24), Some(4));
        assert_eq!(slot(&p, 21, 25), None);
        let counts: HashMap<u64, u64> = (0..25).map(|i| (i, 2)).collect();
        assert_eq!(expected_for(&p, 5, &counts), 20);
        assert_eq!(expected_for(&p, 24, &counts), 10);
    }

    #[test]
    fn commands_and_events_round_trip() {
        let c: Command = serde_json::from_str(
            &serde_json::to_string(&Command::Drain {
                phase: 2,
                counts: vec![(1, 2)],
                wait_ms: 3,
                quiet_ms: 4,
            })
            .unwrap(),
        )
        .unwrap();
        assert!(matches!(
            c,
            Command::Drain {
                phase: 2,
                quiet_ms: 4,
                ..
            }
        ));
        let e: Event = serde_json::from_str(
            r#"{"ev":"published","phase":1,"counts":[[5,6]],"errors":0,"elapsed_ms":9}"#,
        )
        .unwrap();
        assert!(matches!(e, Event::Published { phase: 1, .. }));
    }
}
