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
mod link;
mod procs;
mod run;
mod table;
mod wire;
pub mod worker;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::bayeux::Transport;
use crate::suite::{self, Launch, Server};
use worker::Counts;

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
    /// `--handshake-surge 0`), herald-proxied (its defaults, every request with an
    /// `X-Forwarded-For` of one address per worker, as behind a local reverse proxy: herald
    /// does not limit handshakes per address for loopback peers without one), faye, cometd.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "herald,herald-nosurge,herald-proxied,faye,cometd"
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
    /// A run during which other processes used more CPU than this (% of one core) is run
    /// again, up to --attempts times; the quietest is kept.
    #[arg(long, default_value_t = 25.0)]
    noisy_cpu_pct: f64,
    #[arg(long, default_value_t = 2)]
    attempts: usize,
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
    /// Clients send `X-Forwarded-For` (see [`StormArgs::servers`]).
    proxied: bool,
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
    /// SYNs dropped at a full accept queue from the drop until all were back (machine-wide).
    pub listen_drops: u64,
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
                "herald-proxied" => (Server::Herald, Vec::new()),
                other => (Server::parse(other)?, Vec::new()),
            };
            if server == Server::Herald {
                extra.extend(args.herald_args.iter().filter(|a| !a.is_empty()).cloned());
            }
            Ok(Contender {
                label: s.clone(),
                server,
                extra,
                proxied: s == "herald-proxied",
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
                    let fresh = || Outcome {
                        drop: format!("{drop:?}").to_lowercase(),
                        label: c.label.clone(),
                        transport: t.as_str().into(),
                        clients: args.clients,
                        version: suite::version(&args.launch, c.server),
                        ..Outcome::default()
                    };
                    let mut o = fresh();
                    if c.server == Server::Cometd && t == Transport::WebSocket {
                        o.error = Some("n/a: CometD's Node server has no WebSocket".into());
                    }
                    // A run during which other work took the cores is run again; the
                    // quietest attempt is kept.
                    for attempt in 1..=args.attempts.max(1) {
                        if o.error.as_deref().is_some_and(|e| e.starts_with("n/a")) {
                            break;
                        }
                        k += 1;
                        let began = Instant::now();
                        let mut this = fresh();
                        if let Err(e) = run::one(&args, c, t, drop, k, &mut this).await {
                            this.error = Some(format!("{e:#}"));
                        }
                        let noisy = this.other_cpu_pct > args.noisy_cpu_pct;
                        eprintln!(
                            "  {:<7} {:<15} {:<13} {:>5.0} s  {}{}",
                            this.drop,
                            this.label,
                            this.transport,
                            began.elapsed().as_secs_f64(),
                            table::brief(&this),
                            if noisy {
                                format!("  [other processes used {:.0}% CPU]", this.other_cpu_pct)
                            } else {
                                String::new()
                            }
                        );
                        if attempt == 1
                            || (this.error.is_none() && this.other_cpu_pct < o.other_cpu_pct)
                        {
                            o = this;
                        }
                        if !noisy {
                            break;
                        }
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
