//! The parent process of one scenario run: it spreads the clients over worker processes
//! (re-running this binary as `herald-bench worker`, each with its own loopback source
//! address), drives their phases, watches the server's RSS and CPU, and merges everything
//! into a [`RunReport`]. The whole run is bounded by a hard deadline.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command as Proc};
use tokio::sync::mpsc;

use crate::bayeux::Transport;
use crate::procfs;
use crate::stats::{self, Latency};
use crate::target::Target;
use crate::worker::{Command, Counters, Event, PhaseResult, Shape, WorkerPlan};

/// The four scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    Fanout,
    Chat,
    Idle,
    MaxRate,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Fanout => "fanout",
            Scenario::Chat => "chat",
            Scenario::Idle => "idle",
            Scenario::MaxRate => "max-rate",
        }
    }
}

/// Steps in a row over the p99 bound that end a `max-rate` ramp.
pub const SLOW_STEPS: usize = 3;

/// How `max-rate` ramps.
#[derive(Debug, Clone, Serialize)]
pub struct MaxRateSpec {
    /// First publish rate (messages/s).
    pub start_rate: f64,
    /// Each passing step multiplies the rate by this.
    pub factor: f64,
    /// Duration of one step.
    pub step: Duration,
    /// A step passes when its p99 latency is at most this, nothing is lost, and the
    /// publisher reached 95 % of the rate. The ramp ends at a loss, a publisher that falls
    /// short, three slow steps in a row, or `max_steps`.
    pub p99_bound_ms: f64,
    pub max_steps: usize,
}

/// Everything a run needs.
#[derive(Debug, Clone, Serialize)]
pub struct RunSpec {
    pub scenario: Scenario,
    pub url: String,
    pub transport: Transport,
    /// Subscribers (fanout, idle, max-rate) or chat members.
    pub clients: usize,
    pub room_size: usize,
    /// fanout: publishes/s; chat: publishes/s per client.
    pub rate: f64,
    pub duration: Duration,
    /// How long to wait at most for outstanding deliveries after publishing stops.
    pub drain: Duration,
    /// Stop waiting sooner when no delivery came for this long.
    pub drain_quiet: Duration,
    /// idle: how long the clients stay connected before RSS is read.
    pub hold: Duration,
    pub procs: usize,
    pub server_pid: Option<u32>,
    pub payload: usize,
    pub pub_conns: usize,
    pub setup_concurrency: usize,
    /// Clients ask for acknowledged delivery (the `ack` extension, as CometD's
    /// `AckExtension` does): what reliable delivery costs the server.
    pub ack: bool,
    pub deadline: Duration,
    /// Workers use 127.0.0.(2 + (src_offset + i) mod 250).
    pub src_offset: usize,
    pub max_rate: MaxRateSpec,
}

impl RunSpec {
    /// Connections the clients open at once (long-polling chat members have two).
    pub fn connections(&self) -> usize {
        match (self.scenario, self.transport) {
            (Scenario::Chat, Transport::LongPolling) => self.clients * 2,
            _ => self.clients + 1,
        }
    }

    /// Worker processes: enough that none holds more than ~5,000 connections.
    pub fn auto_procs(&self) -> usize {
        let conns = self.connections();
        if conns <= 300 {
            1
        } else {
            conns.div_ceil(5000).clamp(2, 32)
        }
    }

    /// A deadline long enough for setup, every phase and the drains.
    pub fn auto_deadline(&self) -> Duration {
        let setup = Duration::from_secs(30) + Duration::from_millis(self.connections() as u64 * 5);
        let phases = match self.scenario {
            Scenario::Fanout | Scenario::Chat => {
                self.duration * 3 + self.drain + Duration::from_secs(10)
            }
            Scenario::Idle => self.hold + self.drain + Duration::from_secs(15),
            Scenario::MaxRate => {
                (self.max_rate.step * 3 + self.drain + Duration::from_secs(7))
                    * self.max_rate.max_steps as u32
            }
        };
        setup + phases + Duration::from_secs(20)
    }
}

/// One phase, merged over the workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseReport {
    pub phase: u32,
    /// Target publish rate: total (fanout) or per client (chat).
    pub rate: f64,
    pub published: u64,
    pub publish_errors: u64,
    pub publish_secs: f64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    /// Received beyond what was expected (publishes the server took but did not ack).
    pub extra: u64,
    pub duplicates: u64,
    pub stale: u64,
    pub foreign: u64,
    /// Unique deliveries ÷ the time from the phase's start to its last delivery.
    pub delivered_per_s: f64,
    pub latency: Latency,
    pub drain_ms: u64,
    /// max-rate: whether this step kept up.
    pub passed: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SetupReport {
    pub ready: usize,
    pub failed: usize,
    pub secs: f64,
    pub first_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerReport {
    pub pid: u32,
    pub rss_baseline_kb: u64,
    pub rss_peak_kb: u64,
    /// CPU used by the server from the end of setup to the end of the run, % of one core.
    pub cpu_pct: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdleReport {
    pub connected: usize,
    pub rss_connected_kb: u64,
    /// (RSS with every client connected − RSS before) ÷ clients.
    pub bytes_per_client: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MaxRateReport {
    /// The highest publish rate that kept up (0 when none did).
    pub best_rate: f64,
    pub best_delivered_per_s: f64,
    pub best_p99_ms: f64,
    pub p99_bound_ms: f64,
    pub stopped_because: String,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub scenario: Scenario,
    pub transport: Transport,
    /// Whether the clients asked for acknowledged delivery.
    pub ack: bool,
    pub url: String,
    pub clients: usize,
    pub room_size: usize,
    pub rate: f64,
    pub duration_s: f64,
    pub procs: usize,
    pub setup: SetupReport,
    pub phases: Vec<PhaseReport>,
    /// Lost messages over every phase (max-rate: over the passing steps only).
    pub lost: u64,
    pub counters: Counters,
    pub server: Option<ServerReport>,
    pub idle: Option<IdleReport>,
    pub max_rate: Option<MaxRateReport>,
    pub elapsed_s: f64,
    /// CPU used by the load generator's workers from the end of setup to the end of the
    /// run, % of one core (if near 100 × procs, the generator was the limit).
    pub generator_cpu_pct: f64,
    /// CPU the rest of the machine used during the same window (other processes, kernel
    /// threads, this parent), % of one core: other work on the machine skews results.
    pub other_cpu_pct: f64,
    pub note: String,
}

impl RunReport {
    /// The phase the headline numbers come from.
    pub fn main_phase(&self) -> Option<&PhaseReport> {
        match self.scenario {
            Scenario::MaxRate => self.phases.iter().rfind(|p| p.passed == Some(true)),
            _ => self.phases.first(),
        }
    }
}

/// Starts this binary again as `subcommand` (a worker process) and writes `plan` as the
/// first line of its stdin; its stdout is for its JSON lines, its stderr the parent's.
pub async fn spawn_self(
    subcommand: &str,
    plan: &impl Serialize,
) -> Result<(Child, ChildStdin, ChildStdout)> {
    let exe = std::env::current_exe().context("own executable")?;
    let mut child = Proc::new(&exe)
        .arg(subcommand)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning a {subcommand}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut line = serde_json::to_string(plan)?;
    line.push('\n');
    stdin.write_all(line.as_bytes()).await?;
    stdin.flush().await?;
    let stdout = child.stdout.take().expect("piped");
    Ok((child, stdin, stdout))
}

/// Waits for workers told to stop, killing any that have not exited within 3 s, so that a
/// hung worker cannot keep a run from ending.
pub async fn reap(children: &mut [Child]) {
    for c in children {
        if tokio::time::timeout(Duration::from_secs(3), c.wait())
            .await
            .is_err()
        {
            let _ = c.start_kill();
        }
    }
}

struct Workers {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    events: mpsc::UnboundedReceiver<(usize, Result<Event>)>,
}

impl Workers {
    async fn spawn(plans: &[WorkerPlan]) -> Result<Workers> {
        let (tx, events) = mpsc::unbounded_channel();
        let mut children = Vec::new();
        let mut stdins = Vec::new();
        for plan in plans {
            let (child, stdin, stdout) = spawn_self("worker", plan).await?;
            let tx = tx.clone();
            let w = plan.worker;
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                loop {
                    match lines.next_line().await {
                        Ok(Some(l)) => {
                            let ev = serde_json::from_str::<Event>(&l)
                                .with_context(|| format!("worker {w} said: {l}"));
                            let _ = tx.send((w, ev));
                        }
                        Ok(None) | Err(_) => {
                            let _ = tx.send((w, Err(anyhow!("worker {w} exited"))));
                            return;
                        }
                    }
                }
            });
            children.push(child);
            stdins.push(stdin);
        }
        Ok(Workers {
            children,
            stdins,
            events,
        })
    }

    /// CPU seconds the workers have used so far.
    fn cpu_secs(&self) -> f64 {
        self.children
            .iter()
            .filter_map(|c| c.id().and_then(procfs::cpu_secs))
            .sum()
    }

    async fn send_all(&mut self, cmd: &Command) -> Result<()> {
        let mut line = serde_json::to_string(cmd)?;
        line.push('\n');
        for s in &mut self.stdins {
            s.write_all(line.as_bytes()).await?;
            s.flush().await?;
        }
        Ok(())
    }

    /// Waits for one event from every worker.
    async fn gather(&mut self) -> Result<Vec<Event>> {
        let n = self.stdins.len();
        let mut got: Vec<Option<Event>> = vec![None; n];
        let mut have = 0;
        while have < n {
            let (w, ev) = self.events.recv().await.context("workers gone")?;
            let ev = ev?;
            if got[w].replace(ev).is_none() {
                have += 1;
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    async fn stop(mut self) {
        let _ = self.send_all(&Command::Stop).await;
        reap(&mut self.children).await;
    }
}

/// Runs a scenario to the end (or to its hard deadline).
pub async fn run(spec: &RunSpec) -> Result<RunReport> {
    Target::parse(&spec.url)?;
    match tokio::time::timeout(spec.deadline, run_inner(spec)).await {
        Ok(r) => r,
        Err(_) => bail!(
            "the run passed its hard deadline of {:.0} s and was stopped",
            spec.deadline.as_secs_f64()
        ),
    }
}

async fn run_inner(spec: &RunSpec) -> Result<RunReport> {
    let began = Instant::now();
    let procs = spec.procs.max(1).min(spec.clients.max(1));
    let shape = match spec.scenario {
        Scenario::Chat => Shape::Chat,
        _ => Shape::Fanout,
    };
    let channel = match spec.scenario {
        Scenario::Fanout => "/bench/fanout",
        Scenario::Chat => "/bench/chat",
        Scenario::Idle => "/bench/idle",
        Scenario::MaxRate => "/bench/max-rate",
    };
    let plans: Vec<WorkerPlan> = (0..procs)
        .map(|i| WorkerPlan {
            worker: i,
            url: spec.url.clone(),
            transport: spec.transport,
            shape,
            channel: channel.to_string(),
            src: Ipv4Addr::new(127, 0, 0, 2 + ((spec.src_offset + i) % 250) as u8),
            lo: spec.clients * i / procs,
            hi: spec.clients * (i + 1) / procs,
            n: spec.clients,
            room_size: spec.room_size.max(1),
            publisher: i == 0 && shape == Shape::Fanout,
            pub_conns: spec.pub_conns,
            payload: spec.payload,
            setup_concurrency: spec.setup_concurrency,
            ack: spec.ack,
            deadline_ms: spec.deadline.as_millis() as u64 + 5_000,
        })
        .collect();

    let baseline = spec.server_pid.and_then(procfs::rss_kb);
    let sampler = spec.server_pid.map(procfs::Sampler::start);
    let mut workers = Workers::spawn(&plans).await?;
    let setup_began = Instant::now();
    let mut setup = SetupReport::default();
    for ev in workers.gather().await? {
        if let Event::Ready {
            ready,
            failed,
            first_error,
            ..
        } = ev
        {
            setup.ready += ready;
            setup.failed += failed;
            if setup.first_error.is_none() {
                setup.first_error = first_error;
            }
        }
    }
    setup.secs = setup_began.elapsed().as_secs_f64();
    let cpu_start = spec.server_pid.and_then(procfs::cpu_secs);
    let gen_start = workers.cpu_secs();
    let machine_start = procfs::machine_busy_secs();
    let cpu_clock = Instant::now();

    let mut phases = Vec::new();
    let mut counters = Counters::default();
    let mut idle = None;
    let mut max_rate = None;
    match spec.scenario {
        Scenario::Fanout | Scenario::Chat => {
            let p = phase(
                &mut workers,
                spec,
                1,
                spec.rate,
                spec.duration,
                &mut counters,
            )
            .await?;
            phases.push(p);
        }
        Scenario::Idle => {
            tokio::time::sleep(spec.hold).await;
            let connected_kb = spec.server_pid.and_then(procfs::rss_kb).unwrap_or(0);
            let connected = setup.ready.saturating_sub(1);
            idle = Some(IdleReport {
                connected,
                rss_connected_kb: connected_kb,
                bytes_per_client: match baseline {
                    Some(b) if connected > 0 && connected_kb > 0 => {
                        (connected_kb as f64 - b as f64) * 1024.0 / connected as f64
                    }
                    _ => 0.0,
                },
            });
            // One broadcast to every idle client: all of them must still be there.
            let p = phase(
                &mut workers,
                spec,
                1,
                1.0,
                Duration::from_secs(1),
                &mut counters,
            )
            .await?;
            phases.push(p);
        }
        Scenario::MaxRate => {
            let m = &spec.max_rate;
            let mut rate = m.start_rate;
            let mut best: Option<PhaseReport> = None;
            let mut why = format!("reached the step limit ({})", m.max_steps);
            let mut slow = 0;
            for step in 0..m.max_steps {
                let mut p = phase(
                    &mut workers,
                    spec,
                    step as u32 + 1,
                    rate,
                    m.step,
                    &mut counters,
                )
                .await?;
                let want = (rate * m.step.as_secs_f64()).round();
                // Losing messages or not reaching the rate ends the ramp. A p99 over the bound
                // fails the step but not the ramp: over long-polling a higher rate can do
                // better (more events ride in each response), so the ramp goes on until
                // `SLOW_STEPS` steps in a row are too slow.
                let (reason, fatal) = if p.lost > 0 {
                    (Some(format!("{} lost at {:.0}/s", p.lost, rate)), true)
                } else if (p.published as f64) < 0.95 * want
                    || p.publish_secs > m.step.as_secs_f64() * 1.1 + 0.1
                {
                    (
                        Some(format!(
                            "publisher fell behind at {rate:.0}/s: {} of {want:.0} in {:.1} s",
                            p.published, p.publish_secs
                        )),
                        true,
                    )
                } else if p.latency.p99_ms > m.p99_bound_ms {
                    slow += 1;
                    (
                        Some(format!(
                            "p99 {:.1} ms > {:.0} ms at {:.0}/s",
                            p.latency.p99_ms, m.p99_bound_ms, rate
                        )),
                        slow >= SLOW_STEPS,
                    )
                } else {
                    slow = 0;
                    (None, false)
                };
                p.passed = Some(reason.is_none());
                phases.push(p.clone());
                match reason {
                    None => best = Some(p),
                    Some(r) if fatal => {
                        why = if slow >= SLOW_STEPS {
                            format!("{r}, {slow} slow steps in a row")
                        } else {
                            r
                        };
                        break;
                    }
                    Some(_) => {}
                }
                rate *= m.factor;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            max_rate = Some(MaxRateReport {
                best_rate: best.as_ref().map_or(0.0, |b| b.rate),
                best_delivered_per_s: best.as_ref().map_or(0.0, |b| b.delivered_per_s),
                best_p99_ms: best.as_ref().map_or(0.0, |b| b.latency.p99_ms),
                p99_bound_ms: m.p99_bound_ms,
                stopped_because: why,
            });
        }
    }
    let cpu_end = spec.server_pid.and_then(procfs::cpu_secs);
    let gen_end = workers.cpu_secs();
    let machine_end = procfs::machine_busy_secs();
    let window = cpu_clock.elapsed().as_secs_f64().max(1e-3);
    let server_cpu = match (cpu_start, cpu_end) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    let other_cpu = match (machine_start, machine_end) {
        (Some(a), Some(b)) => ((b - a) - server_cpu - (gen_end - gen_start)).max(0.0),
        _ => 0.0,
    };
    let server = spec.server_pid.map(|pid| ServerReport {
        pid,
        rss_baseline_kb: baseline.unwrap_or(0),
        rss_peak_kb: sampler.as_ref().map_or(0, |s| s.peak_kb().max(s.last_kb())),
        cpu_pct: server_cpu * 100.0 / window,
    });
    workers.stop().await;
    let lost = match spec.scenario {
        Scenario::MaxRate => phases
            .iter()
            .filter(|p| p.passed == Some(true))
            .map(|p| p.lost)
            .sum(),
        _ => phases.iter().map(|p| p.lost).sum(),
    };
    Ok(RunReport {
        scenario: spec.scenario,
        transport: spec.transport,
        ack: spec.ack,
        url: spec.url.clone(),
        clients: spec.clients,
        room_size: spec.room_size,
        rate: spec.rate,
        duration_s: spec.duration.as_secs_f64(),
        procs,
        setup,
        phases,
        lost,
        counters,
        server,
        idle,
        max_rate,
        elapsed_s: began.elapsed().as_secs_f64(),
        generator_cpu_pct: (gen_end - gen_start) * 100.0 / window,
        other_cpu_pct: other_cpu * 100.0 / window,
        note: "load generator and server share this machine's cores".to_string(),
    })
}

/// One publishing phase: go, wait for the publishers, drain, merge.
async fn phase(
    workers: &mut Workers,
    spec: &RunSpec,
    number: u32,
    rate: f64,
    duration: Duration,
    counters: &mut Counters,
) -> Result<PhaseReport> {
    workers
        .send_all(&Command::Go {
            phase: number,
            rate,
            duration_ms: duration.as_millis() as u64,
        })
        .await?;
    let mut counts: HashMap<u64, u64> = HashMap::new();
    let mut publish_errors = 0;
    let mut elapsed_ms = 0;
    for ev in workers.gather().await? {
        if let Event::Published {
            counts: c,
            errors,
            elapsed_ms: e,
            ..
        } = ev
        {
            for (p, n) in c {
                *counts.entry(p).or_default() += n;
            }
            publish_errors += errors;
            elapsed_ms = elapsed_ms.max(e);
        }
    }
    let published: u64 = counts.values().sum();
    workers
        .send_all(&Command::Drain {
            phase: number,
            counts: counts.into_iter().collect(),
            wait_ms: spec.drain.as_millis() as u64,
            quiet_ms: spec.drain_quiet.as_millis() as u64,
        })
        .await?;
    let mut hist = stats::new_histogram();
    let mut sum = PhaseResult::default();
    let mut merged = Counters::default();
    for ev in workers.gather().await? {
        if let Event::Result(r) = ev {
            stats::add_pairs(&mut hist, &r.hist);
            sum.expected += r.expected;
            sum.received += r.received;
            sum.duplicates += r.duplicates;
            sum.stale += r.stale;
            sum.foreign += r.foreign;
            sum.drain_ms = sum.drain_ms.max(r.drain_ms);
            sum.last_delivery_ms = sum.last_delivery_ms.max(r.last_delivery_ms);
            let c = r.counters;
            merged.errors += c.errors;
            merged.failures += c.failures;
            merged.rehandshakes += c.rehandshakes;
            merged.connects += c.connects;
            merged.other_events += c.other_events;
            merged.ack_batches += c.ack_batches;
            merged.ack_refused += c.ack_refused;
            if merged.first_error.is_none() {
                merged.first_error = c.first_error;
            }
        }
    }
    *counters = merged;
    // From the phase's start to its last delivery (or the publishing's end, if later).
    let window = duration
        .as_secs_f64()
        .max(elapsed_ms as f64 / 1000.0)
        .max(sum.last_delivery_ms as f64 / 1000.0);
    Ok(PhaseReport {
        phase: number,
        rate,
        published,
        publish_errors,
        publish_secs: elapsed_ms as f64 / 1000.0,
        expected: sum.expected,
        received: sum.received,
        lost: sum.expected.saturating_sub(sum.received),
        extra: sum.received.saturating_sub(sum.expected),
        duplicates: sum.duplicates,
        stale: sum.stale,
        foreign: sum.foreign,
        delivered_per_s: sum.received as f64 / window.max(1e-3),
        latency: Latency::of(&hist),
        drain_ms: sum.drain_ms,
        passed: None,
    })
}
