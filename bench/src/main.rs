//! herald-bench: a load generator for Bayeux servers (herald, Faye, CometD). This module owns
//! the command line: the four scenarios (`fanout`, `chat`, `idle`, `max-rate`), the
//! side-by-side `suite`, the machine's loopback `floor`, and the hidden subcommands the
//! parent re-runs itself as.

mod bayeux;
mod coordinator;
mod floor;
mod http;
mod procfs;
mod report;
mod soak;
mod soak_book;
mod soak_client;
mod soak_pub;
mod soak_report;
mod soak_wire;
mod soak_worker;
mod stats;
mod storm;
mod suite;
mod target;
mod worker;

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bayeux::Transport;
use crate::coordinator::{MaxRateSpec, RunSpec, Scenario};

/// The load generator shares the cores with the server it measures: jemalloc spends less
/// of them per request than the system allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Load generator for Bayeux (CometD / Faye protocol) servers, loopback only.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// N subscribers on one channel, one publisher at R messages/s for D seconds.
    Fanout(RunArgs),
    /// N clients in rooms of K, each publishing R messages/s to its room for D seconds.
    Chat(RunArgs),
    /// N clients holding /meta/connect: server memory per client, then one broadcast to all.
    Idle(RunArgs),
    /// Fanout with a rising publish rate: the highest rate whose p99 stays under a bound.
    MaxRate(RunArgs),
    /// Start herald, Faye and CometD's Node server in turn, run every scenario against each,
    /// and print a table with ratios.
    Suite(suite::SuiteArgs),
    /// N clients holding /meta/connect lose their server at once (a restart, or a network
    /// blip) and come back as the CometD client does: how long until all are back.
    Storm(storm::StormArgs),
    /// What one loopback TCP request/response costs this machine, without HTTP or Bayeux:
    /// the ceiling of every long-polling rate.
    Floor(floor::FloorArgs),
    /// A long run against a herald it starts: churning clients with acknowledged delivery
    /// on every transport, exact loss and duplication, the server's RSS slope and
    /// join-and-leave memory cycles.
    Soak(soak::SoakArgs),
    /// (internal) one worker process of `soak`.
    #[command(hide = true)]
    SoakWorker,
    /// (internal) one worker process of a run; reads its plan on stdin.
    #[command(hide = true)]
    Worker,
    /// (internal) one worker process of `storm`; reads its plan on stdin.
    #[command(hide = true)]
    StormWorker,
    /// (internal) the server process of `floor`.
    #[command(hide = true)]
    FloorServer(floor::Exchange),
    /// (internal) one client process of `floor`.
    #[command(hide = true)]
    FloorClient(floor::ClientArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TransportArg {
    LongPolling,
    Websocket,
}

/// Options shared by the scenarios.
#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// The Bayeux endpoint; the host must be localhost or 127.x.x.x.
    #[arg(long, default_value = "http://127.0.0.1:8080/cometd")]
    url: String,
    #[arg(long, value_enum, default_value = "long-polling")]
    transport: TransportArg,
    /// Clients (subscribers, chat members, idle clients). Defaults: fanout 1000, chat 2000,
    /// idle 1000, max-rate 1000.
    #[arg(short = 'n', long)]
    clients: Option<usize>,
    /// chat: clients per room.
    #[arg(long, default_value_t = 10)]
    room_size: usize,
    /// fanout: publishes/s (default 100); chat: publishes/s per client (default 1).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of publishing (default 10).
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds to wait at most for the last deliveries after publishing stops; what has not
    /// arrived by then is lost.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    /// Stop waiting sooner when no delivery came for this many seconds.
    #[arg(long, default_value_t = 3.0)]
    drain_quiet: f64,
    /// idle: seconds the clients stay connected before the server's RSS is read.
    #[arg(long, default_value_t = 3.0)]
    hold: f64,
    /// Worker processes (default: enough for ≤ 5,000 connections each).
    #[arg(long)]
    procs: Option<usize>,
    /// The server's pid, to sample its RSS (every 100 ms) and CPU.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Bytes of padding in each message's data.
    #[arg(long, default_value_t = 50)]
    payload: usize,
    /// Long-polling connections the fanout publisher spreads its publishes over.
    #[arg(long, default_value_t = 4)]
    pub_conns: usize,
    /// Clients setting up at once, per worker.
    #[arg(long, default_value_t = 50)]
    setup_concurrency: usize,
    /// Clients ask for acknowledged delivery, as the CometD client's AckExtension does:
    /// `ext.ack` in the handshake, the last batch received in every /meta/connect.
    #[arg(long)]
    ack: bool,
    /// Hard deadline of the whole run in seconds (default: from the scenario's size).
    #[arg(long)]
    deadline: Option<f64>,
    /// Workers use source addresses 127.0.0.(2 + offset + i).
    #[arg(long, default_value_t = 0)]
    src_offset: usize,
    /// max-rate: the first publish rate.
    #[arg(long, default_value_t = 10.0)]
    start_rate: f64,
    /// max-rate: the rate is multiplied by this after each step that kept up.
    #[arg(long, default_value_t = 1.5)]
    step_factor: f64,
    /// max-rate: seconds per step.
    #[arg(long, default_value_t = 3.0)]
    step: f64,
    /// max-rate: the p99 latency bound of a step that keeps up, ms.
    #[arg(long, default_value_t = 200.0)]
    p99_bound_ms: f64,
    /// max-rate: at most this many steps.
    #[arg(long, default_value_t = 16)]
    max_steps: usize,
    /// Print the report as JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// Exit with status 2 when a message was lost, a client failed to set up, nothing was
    /// delivered, or (with --ack) the server did not grant acknowledged delivery.
    #[arg(long)]
    strict: bool,
}

/// Upper bounds that keep every run bounded in count.
const MAX_CLIENTS: usize = 100_000;
const MAX_RATE: f64 = 1_000_000.0;
const MAX_SECS: f64 = 3600.0;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, MAX_SECS))
}

impl RunArgs {
    fn spec(&self, scenario: Scenario) -> Result<RunSpec> {
        let clients = self.clients.unwrap_or(match scenario {
            Scenario::Chat => 2000,
            _ => 1000,
        });
        let rate = self.rate.unwrap_or(match scenario {
            Scenario::Chat => 1.0,
            _ => 100.0,
        });
        let duration = self.duration.unwrap_or(10.0);
        if clients == 0 || clients > MAX_CLIENTS {
            bail!("--clients must be between 1 and {MAX_CLIENTS}");
        }
        let in_range = |r: f64| r > 0.0 && r <= MAX_RATE;
        if !in_range(rate) || !in_range(self.start_rate) {
            bail!("rates must be above 0 and at most {MAX_RATE}");
        }
        if !(duration > 0.0 && duration <= MAX_SECS) {
            bail!("--duration must be between 0 and {MAX_SECS} s");
        }
        if self.step_factor <= 1.0 {
            bail!("--step-factor must be above 1");
        }
        let mut spec = RunSpec {
            scenario,
            url: self.url.clone(),
            transport: match self.transport {
                TransportArg::LongPolling => Transport::LongPolling,
                TransportArg::Websocket => Transport::WebSocket,
            },
            clients,
            room_size: self.room_size.max(1),
            rate,
            duration: secs(duration),
            drain: secs(self.drain),
            drain_quiet: secs(self.drain_quiet),
            hold: secs(self.hold),
            procs: 0,
            server_pid: self.server_pid,
            payload: self.payload.min(64 * 1024),
            pub_conns: self.pub_conns.clamp(1, 64),
            setup_concurrency: self.setup_concurrency.max(1),
            ack: self.ack,
            deadline: Duration::ZERO,
            src_offset: self.src_offset,
            max_rate: MaxRateSpec {
                start_rate: self.start_rate,
                factor: self.step_factor,
                step: secs(self.step.max(0.5)),
                p99_bound_ms: self.p99_bound_ms,
                max_steps: self.max_steps.clamp(1, 40),
            },
        };
        spec.procs = self.procs.unwrap_or_else(|| spec.auto_procs()).clamp(1, 64);
        spec.deadline = match self.deadline {
            Some(d) => secs(d),
            None => spec.auto_deadline(),
        };
        target::Target::parse(&spec.url)?;
        Ok(spec)
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let (scenario, args) = match cli.cmd {
        Cmd::Worker => return worker::main(),
        Cmd::Suite(a) => return suite::main(a),
        Cmd::Soak(a) => return soak::main(a),
        Cmd::SoakWorker => return soak_worker::main(),
        Cmd::Storm(a) => return storm::main(a),
        Cmd::StormWorker => return storm::worker::main(),
        Cmd::Floor(a) => return floor::main(a),
        Cmd::FloorServer(a) => return floor::server(a),
        Cmd::FloorClient(a) => return floor::client(a),
        Cmd::Fanout(a) => (Scenario::Fanout, a),
        Cmd::Chat(a) => (Scenario::Chat, a),
        Cmd::Idle(a) => (Scenario::Idle, a),
        Cmd::MaxRate(a) => (Scenario::MaxRate, a),
    };
    let spec = args.spec(scenario)?;
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(coordinator::run(&spec))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report::summary(&report));
    }
    if args.strict {
        let delivered: u64 = report.phases.iter().map(|p| p.received).sum();
        let refused = report.counters.ack_refused;
        if report.lost > 0 || report.setup.failed > 0 || delivered == 0 || refused > 0 {
            eprintln!(
                "herald-bench: strict check failed: lost {}, setup failures {}, delivered {}, acks refused {}",
                report.lost, report.setup.failed, delivered, refused
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
