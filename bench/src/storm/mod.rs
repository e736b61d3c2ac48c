//! The reconnect storm: N clients hold `/meta/connect`, each subscribed to a channel, then
//! lose their server at once, and the run times how they all come back, client by client,
//! against herald, Faye and CometD's Node server in turn.
//!
//! Two drops: `restart` stops the server process (SIGTERM, SIGKILL after 5 s) and starts it
//! again on the same port, so every session is gone and every client must handshake again;
//! `blip` leaves the server up and has every client drop its connections at once, to come
//! back with the same `clientId`. Clients come back as the CometD JavaScript client does
//! (see [`client`]). The parent starts the servers the way `suite` does, spreads the
//! clients over worker processes (one loopback source address each, a bounded number of
//! files each), samples the server's CPU and RSS from /proc, and stops by itself after the
//! bound.

mod client;
mod procs;
mod table;
mod wire;
pub mod worker;

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::bayeux::Transport;
use crate::procfs;
use crate::suite::{self, Launch, Server};
use crate::worker::now_us;
use procs::{CpuTrace, Procs};
use worker::{Command, Counts, Event, Plan};

/// How the clients lose their server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DropKind {
    /// The server process is restarted on the same port: every session is gone.
    Restart,
    /// Every client drops its connections at once; the server stays up.
    Blip,
}

#[derive(Debug, Clone, Args)]
pub struct StormArgs {
    /// What to run against, in order: herald (its defaults), herald-nosurge (herald with
    /// `--handshake-surge 0`), faye, cometd.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "herald,herald-nosurge,faye,cometd"
    )]
    servers: Vec<String>,
    /// Transports, of websocket, long-polling (CometD's Node server: long-polling only).
    #[arg(long, value_delimiter = ',', default_value = "websocket,long-polling")]
    transports: Vec<String>,
    /// Drops, of restart, blip.
    #[arg(long, value_delimiter = ',', default_value = "restart")]
    drops: Vec<DropKind>,
    /// Clients.
    #[arg(short = 'n', long, default_value_t = 15_000)]
    clients: usize,
    /// Worker processes (each its own source address 127.0.0.2, 127.0.0.3, …).
    #[arg(long, default_value_t = 8)]
    procs: usize,
    /// Seconds after the drop when clients not yet back count as never back.
    #[arg(long, default_value_t = 120)]
    bound_secs: u64,
    /// Seconds the clients may take to set up before the drop.
    #[arg(long, default_value_t = 180)]
    setup_secs: u64,
    /// Seconds every client holds /meta/connect before the drop.
    #[arg(long, default_value_t = 3)]
    hold_secs: u64,
    /// First handshakes under way at once, per worker, while setting up.
    #[arg(long, default_value_t = 100)]
    setup_concurrency: usize,
    /// Extra flags for every herald run (e.g. --herald-args=--max-handshake-rate=50).
    #[arg(long, value_delimiter = ' ', allow_hyphen_values = true)]
    herald_args: Vec<String>,
    /// Servers listen on ports from here.
    #[arg(long, default_value_t = 18400)]
    port_base: u16,
    #[command(flatten)]
    launch: Launch,
    /// Write every outcome here as JSON.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

/// One server set-up under test.
#[derive(Debug, Clone)]
struct Contender {
    label: String,
    server: Server,
    extra: Vec<String>,
}

/// What one drop did to one server over one transport.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub drop: String,
    pub label: String,
    pub transport: String,
    pub clients: usize,
    /// Clients connected and subscribed before the drop.
    pub set_up: usize,
    pub setup_s: f64,
    /// restart: from SIGTERM to the new process listening.
    pub down_s: Option<f64>,
    pub back: usize,
    pub never_back: usize,
    /// From the drop until the last client was back, if all were.
    pub all_back_s: Option<f64>,
    pub p50_s: f64,
    pub p99_s: f64,
    pub counts: Counts,
    pub cpu_peak_pct: f64,
    pub cpu_mean_pct: f64,
    pub rss_peak_mib: f64,
    pub generator_cpu_pct: f64,
    /// CPU the rest of the machine used meanwhile (other work skews a run).
    pub other_cpu_pct: f64,
    pub first_error: Option<String>,
    /// Why there are no figures.
    pub error: Option<String>,
    pub version: Option<String>,
}

/// Clients per worker at most: each holds one or two sockets, well under the 20,000 files
/// one process may open here.
const MAX_PER_WORKER: usize = 8_000;

pub fn main(args: StormArgs) -> Result<()> {
    if args.clients == 0 || args.clients > 30_000 {
        bail!("--clients must be between 1 and 30,000 (one server holds < 20,000 files here)");
    }
    if args.procs == 0 || args.procs > 200 || args.clients.div_ceil(args.procs) > MAX_PER_WORKER {
        bail!("--procs must be 1 to 200, with at most {MAX_PER_WORKER} clients each");
    }
    let contenders = args
        .servers
        .iter()
        .map(|s| {
            let (server, mut extra) = match s.as_str() {
                "herald-nosurge" => (Server::Herald, vec!["--handshake-surge".into(), "0".into()]),
                other => (Server::parse(other)?, Vec::new()),
            };
            if server == Server::Herald {
                extra.extend(args.herald_args.iter().filter(|a| !a.is_empty()).cloned());
            }
            Ok(Contender {
                label: s.clone(),
                server,
                extra,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let transports = args
        .transports
        .iter()
        .map(|t| match t.as_str() {
            "long-polling" => Ok(Transport::LongPolling),
            "websocket" => Ok(Transport::WebSocket),
            _ => bail!("unknown transport {t}"),
        })
        .collect::<Result<Vec<_>>>()?;
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut outcomes = Vec::new();
        let mut k = 0;
        for &drop in &args.drops {
            for &t in &transports {
                for c in &contenders {
                    let mut o = Outcome {
                        drop: format!("{drop:?}").to_lowercase(),
                        label: c.label.clone(),
                        transport: t.as_str().into(),
                        clients: args.clients,
                        version: suite::version(&args.launch, c.server),
                        ..Outcome::default()
                    };
                    if c.server == Server::Cometd && t == Transport::WebSocket {
                        o.error = Some("n/a: CometD's Node server has no WebSocket".into());
                    } else {
                        k += 1;
                        let began = Instant::now();
                        if let Err(e) = one(&args, c, t, drop, k, &mut o).await {
                            o.error = Some(format!("{e:#}"));
                        }
                        eprintln!(
                            "  {:<7} {:<15} {:<13} {:>5.0} s  {}",
                            o.drop,
                            o.label,
                            o.transport,
                            began.elapsed().as_secs_f64(),
                            table::brief(&o)
                        );
                    }
                    outcomes.push(o);
                }
            }
        }
        print!(
            "{}",
            table::markdown(
                &outcomes,
                &args.drops,
                &transports,
                &contenders
                    .iter()
                    .map(|c| c.label.clone())
                    .collect::<Vec<_>>()
            )
        );
        if let Some(p) = &args.json_out {
            std::fs::write(p, serde_json::to_string_pretty(&outcomes)?)?;
        }
        Ok(())
    })
}

/// A port from `base + k` on that nothing listens on now.
fn free_port(base: u16, k: usize) -> Result<u16> {
    (0..50)
        .map(|i| base.wrapping_add(((k + i) % 100) as u16))
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        .context("no free port")
}

/// One drop against one server over one transport, with a fresh server.
async fn one(
    args: &StormArgs,
    c: &Contender,
    t: Transport,
    drop: DropKind,
    k: usize,
    o: &mut Outcome,
) -> Result<()> {
    let port = free_port(args.port_base, k)?;
    let mut server = suite::start(&args.launch, c.server, port, &c.extra).await?;
    let n = args.clients;
    let procs = args.procs.min(n);
    let plans: Vec<Plan> = (0..procs)
        .map(|i| Plan {
            worker: i,
            url: server.url.clone(),
            transport: t,
            src: Ipv4Addr::new(127, 0, 0, 2 + (i % 250) as u8),
            clients: n * (i + 1) / procs - n * i / procs,
            channel: format!("/storm/{i}"),
            setup_concurrency: args.setup_concurrency,
            setup_ms: args.setup_secs * 1000,
            deadline_ms: (args.setup_secs + args.hold_secs + args.bound_secs + 90) * 1000,
        })
        .collect();
    let res = drive(args, c, drop, &plans, &mut server, o).await;
    suite::stop(&mut server).await;
    res
}

async fn drive(
    args: &StormArgs,
    c: &Contender,
    drop: DropKind,
    plans: &[Plan],
    server: &mut suite::Running,
    o: &mut Outcome,
) -> Result<()> {
    let mut w = Procs::spawn(plans).await?;
    let began = Instant::now();
    let setup_limit = Duration::from_secs(args.setup_secs + 30);
    for ev in w.gather(setup_limit).await? {
        if let Event::Ready {
            ready, first_error, ..
        } = ev
        {
            o.set_up += ready;
            o.first_error = o.first_error.take().or(first_error);
        }
    }
    o.setup_s = began.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    w.send_all(&Command::Arm).await?;
    w.gather(Duration::from_secs(10)).await?;

    let t0_us = now_us();
    let t0 = Instant::now();
    match drop {
        DropKind::Restart => {
            let url = server.url.clone();
            let port: u16 = url
                .rsplit(':')
                .next()
                .and_then(|p| p.split('/').next())
                .and_then(|p| p.parse().ok())
                .context("port")?;
            suite::stop(server).await;
            *server = suite::start(&args.launch, c.server, port, &c.extra).await?;
            o.down_s = Some(t0.elapsed().as_secs_f64());
        }
        DropKind::Blip => w.send_all(&Command::Blip).await?,
    }
    let bound = Duration::from_secs(args.bound_secs);
    let mut trace = CpuTrace::default();
    let gen0 = w.cpu_secs();
    let busy0 = procfs::machine_busy_secs();
    let clock = Instant::now();
    let mut back = vec![0usize; plans.len()];
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while back.iter().sum::<usize>() < o.clients && t0.elapsed() < bound {
        tokio::select! {
            _ = tick.tick() => trace.sample(server.pid),
            ev = w.next() => {
                if let Event::Progress { worker, back: b } = ev? {
                    back[worker] = b;
                }
            }
        }
    }
    trace.sample(server.pid);
    let secs = clock.elapsed().as_secs_f64().max(1e-3);
    let generator = w.cpu_secs() - gen0;
    o.generator_cpu_pct = generator * 100.0 / secs;
    (o.cpu_peak_pct, o.cpu_mean_pct) = trace.peak_and_mean();
    if let (Some(a), Some(b)) = (busy0, procfs::machine_busy_secs()) {
        let server = o.cpu_mean_pct * secs / 100.0;
        o.other_cpu_pct = ((b - a) - generator - server).max(0.0) * 100.0 / secs;
    }
    w.send_all(&Command::Collect).await?;
    let mut times: Vec<u64> = Vec::with_capacity(o.clients);
    for ev in w.gather(Duration::from_secs(20)).await? {
        if let Event::Result {
            back_us,
            counts,
            first_error,
            ..
        } = ev
        {
            o.counts.add(&counts);
            if first_error.is_some() {
                o.first_error = first_error;
            }
            times.extend(
                back_us
                    .iter()
                    .filter(|&&b| b > 0)
                    .map(|&b| b.saturating_sub(t0_us)),
            );
        }
    }
    w.stop().await;
    times.sort_unstable();
    o.back = times.len();
    o.never_back = o.clients - o.back;
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |&us| us as f64 / 1e6)
    };
    o.p50_s = at(0.5);
    o.p99_s = at(0.99);
    o.all_back_s = (o.never_back == 0).then(|| at(1.0));
    o.rss_peak_mib = trace.rss_peak_kb as f64 / 1024.0;
    Ok(())
}
