//! The side-by-side runner: starts herald, Faye 1.4 and CometD's Node server one at a time
//! (a fresh server for every run, each with the same connect timeout), runs the same
//! scenarios against each over the same transports, and prints tables with ratios
//! (herald ÷ peer). It starts and stops only the servers it spawned, by their pid.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use tokio::process::{Child, Command};

use crate::bayeux::{self, Transport};
use crate::coordinator::{self, MaxRateSpec, RunReport, RunSpec, Scenario};
use crate::http::HttpConn;
use crate::target::Target;

#[derive(Debug, Clone, Args)]
pub struct SuiteArgs {
    /// Small and short: a few seconds per run (the CI smoke).
    #[arg(long)]
    quick: bool,
    /// Servers to run, of herald, faye, cometd.
    #[arg(long, value_delimiter = ',', default_value = "herald,faye,cometd")]
    servers: Vec<String>,
    /// Transports, of long-polling, websocket (CometD's Node server has long-polling only;
    /// a server whose handshake does not offer websocket is shown as n/a).
    #[arg(long, value_delimiter = ',', default_value = "long-polling,websocket")]
    transports: Vec<String>,
    /// Scenarios, of fanout, chat, idle, max-rate.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fanout,chat,idle,max-rate"
    )]
    scenarios: Vec<String>,
    /// Client counts of the idle scenario (default 1000,5000,10000,19000; quick: 200).
    #[arg(long, value_delimiter = ',')]
    idle_sizes: Vec<usize>,
    #[command(flatten)]
    launch: Launch,
    /// Clients ask every server for acknowledged delivery (the `ack` extension); sessions a
    /// server did not grant it count in the errors row.
    #[arg(long)]
    ack: bool,
    /// Servers listen on ports from here (up to port-base + 79).
    #[arg(long, default_value_t = 18310)]
    port_base: u16,
    /// Write every run's report here as JSON.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// A run during which other processes used more CPU than this (% of one core) is run
    /// again, up to --attempts times; the quietest attempt is kept.
    #[arg(long, default_value_t = 25.0)]
    noisy_cpu_pct: f64,
    /// Attempts per case when the machine is busy with other work.
    #[arg(long, default_value_t = 2)]
    attempts: usize,
}

/// How the servers are started: shared by `suite` and `storm`, so both run them alike.
#[derive(Debug, Clone, Args)]
pub struct Launch {
    /// The herald binary.
    #[arg(long, default_value = "target/release/herald")]
    pub herald: PathBuf,
    /// The Node.js binary, for the peers.
    #[arg(long, default_value = "node")]
    pub node: String,
    /// Where faye.mjs and cometd.mjs are (their node_modules beside, in benches/).
    #[arg(long, default_value = "benches/peers")]
    pub peers: PathBuf,
    /// The /meta/connect hold time given to every server, ms.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Server logs go here.
    #[arg(long, default_value = "target/herald-bench")]
    pub log_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    Herald,
    Faye,
    Cometd,
}

impl Server {
    pub fn parse(s: &str) -> Result<Server> {
        Ok(match s {
            "herald" => Server::Herald,
            "faye" => Server::Faye,
            "cometd" => Server::Cometd,
            _ => bail!("unknown server {s} (herald, faye, cometd)"),
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Server::Herald => "herald",
            Server::Faye => "faye",
            Server::Cometd => "cometd",
        }
    }
}

/// One row of work: a scenario with its settings.
#[derive(Debug, Clone, Serialize)]
struct Case {
    label: String,
    scenario: Scenario,
    clients: usize,
}

/// The outcome of one case on one server and transport.
#[derive(Debug, Clone, Serialize)]
struct Outcome {
    case: String,
    server: Server,
    transport: Transport,
    /// The report, or why there is none.
    report: Option<RunReport>,
    error: Option<String>,
    server_version: Option<String>,
}

pub struct Running {
    child: Child,
    pub pid: u32,
    pub url: String,
    log: PathBuf,
}

pub fn main(args: SuiteArgs) -> Result<()> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

fn transports(args: &SuiteArgs) -> Result<Vec<Transport>> {
    args.transports
        .iter()
        .map(|t| match t.as_str() {
            "long-polling" => Ok(Transport::LongPolling),
            "websocket" => Ok(Transport::WebSocket),
            _ => bail!("unknown transport {t}"),
        })
        .collect()
}

fn cases(args: &SuiteArgs) -> Result<Vec<Case>> {
    let q = args.quick;
    let mut out = Vec::new();
    for s in &args.scenarios {
        match s.as_str() {
            "fanout" => out.push(Case {
                label: if q {
                    "fanout 50 subs, 20/s".into()
                } else {
                    "fanout 1,000 subs, 100/s".into()
                },
                scenario: Scenario::Fanout,
                clients: if q { 50 } else { 1000 },
            }),
            "chat" => out.push(Case {
                label: if q {
                    "chat 100 in rooms of 10, 2/s".into()
                } else {
                    "chat 2,000 in rooms of 10, 1/s".into()
                },
                scenario: Scenario::Chat,
                clients: if q { 100 } else { 2000 },
            }),
            "idle" => {
                let sizes = if !args.idle_sizes.is_empty() {
                    args.idle_sizes.clone()
                } else if q {
                    vec![200]
                } else {
                    vec![1000, 5000, 10000, 19000]
                };
                for n in sizes {
                    if n > 19_500 {
                        bail!("idle {n}: one server holds at most 19,500 clients here");
                    }
                    out.push(Case {
                        label: format!("idle {n}"),
                        scenario: Scenario::Idle,
                        clients: n,
                    });
                }
            }
            "max-rate" => out.push(Case {
                label: if q {
                    "max-rate 50 subs".into()
                } else {
                    "max-rate 1,000 subs".into()
                },
                scenario: Scenario::MaxRate,
                clients: if q { 50 } else { 1000 },
            }),
            _ => bail!("unknown scenario {s}"),
        }
    }
    Ok(out)
}

fn spec(
    args: &SuiteArgs,
    case: &Case,
    transport: Transport,
    url: &str,
    pid: u32,
    k: usize,
) -> RunSpec {
    let q = args.quick;
    let mut s = RunSpec {
        scenario: case.scenario,
        url: url.to_string(),
        transport,
        clients: case.clients,
        room_size: 10,
        rate: match (case.scenario, q) {
            (Scenario::Chat, false) => 1.0,
            (Scenario::Chat, true) => 2.0,
            (_, false) => 100.0,
            (_, true) => 20.0,
        },
        duration: Duration::from_secs(if q { 2 } else { 10 }),
        drain: Duration::from_secs(if q { 5 } else { 30 }),
        drain_quiet: Duration::from_secs(if q { 1 } else { 3 }),
        hold: Duration::from_secs(if q { 1 } else { 3 }),
        procs: 0,
        server_pid: Some(pid),
        payload: 50,
        pub_conns: 4,
        setup_concurrency: 50,
        ack: args.ack,
        deadline: Duration::ZERO,
        src_offset: (k * 7) % 250,
        max_rate: MaxRateSpec {
            start_rate: if q { 50.0 } else { 10.0 },
            factor: if q { 2.0 } else { 1.5 },
            step: Duration::from_secs(if q { 1 } else { 3 }),
            p99_bound_ms: 200.0,
            max_steps: if q { 2 } else { 16 },
        },
    };
    s.procs = s.auto_procs();
    s.deadline = s.auto_deadline();
    s
}

/// A port in our range that nothing listens on now.
fn free_port(args: &SuiteArgs, k: &mut usize) -> Result<u16> {
    for _ in 0..80 {
        let port = args.port_base + (*k % 80) as u16;
        *k += 1;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port from {}", args.port_base)
}

/// Starts `server` on `port`; `extra` goes to herald's command line after the common flags.
pub async fn start(args: &Launch, server: Server, port: u16, extra: &[String]) -> Result<Running> {
    std::fs::create_dir_all(&args.log_dir)?;
    let log = args.log_dir.join(format!("{}-{port}.log", server.name()));
    let file = std::fs::File::create(&log)?;
    let mut cmd = match server {
        Server::Herald => {
            let mut c = Command::new(&args.herald);
            c.arg("--bind")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--timeout")
                .arg(args.timeout_ms.to_string())
                .arg("--log")
                .arg("warn")
                .args(extra);
            c
        }
        Server::Faye | Server::Cometd => {
            let script = args.peers.join(format!("{}.mjs", server.name()));
            let mut c = Command::new(&args.node);
            c.arg(script)
                .arg(port.to_string())
                .arg(args.timeout_ms.to_string());
            c
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", server.name()))?;
    let pid = child.id().context("no pid")?;
    let mut running = Running {
        child,
        pid,
        url: format!("http://127.0.0.1:{port}/cometd"),
        log,
    };
    let began = Instant::now();
    loop {
        if let Ok(Some(status)) = running.child.try_wait() {
            bail!(
                "{} exited at start ({status}); see {}",
                server.name(),
                running.log.display()
            );
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(running);
        }
        if began.elapsed() > Duration::from_secs(20) {
            stop(&mut running).await;
            bail!("{} did not listen within 20 s", server.name());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM, then SIGKILL after 5 s: only the process this runner started.
pub async fn stop(r: &mut Running) {
    if let Ok(None) = r.child.try_wait() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(r.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(5), r.child.wait())
            .await
            .is_err()
        {
            let _ = r.child.start_kill();
            let _ = r.child.wait().await;
        }
    }
}

/// The connection types a server's handshake offers.
async fn offered(url: &str) -> Result<Vec<String>> {
    let target = Target::parse(url)?;
    let mut conn = HttpConn::open(&target, std::net::Ipv4Addr::LOCALHOST).await?;
    let reply = conn
        .post(
            &target,
            bayeux::handshake(1, false),
            None,
            Duration::from_secs(10),
        )
        .await?;
    let p = bayeux::parse(&reply.body)?;
    Ok(p.reply(bayeux::ReplyKind::Handshake)
        .and_then(|r| r.supported.clone())
        .unwrap_or_default())
}

pub fn version(args: &Launch, server: Server) -> Option<String> {
    match server {
        Server::Herald => std::process::Command::new(&args.herald)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Server::Faye | Server::Cometd => {
            let pkg = if server == Server::Faye {
                "faye"
            } else {
                "cometd-nodejs-server"
            };
            let path = args
                .peers
                .join("..")
                .join("node_modules")
                .join(pkg)
                .join("package.json");
            let text = std::fs::read_to_string(path).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            Some(format!("{pkg} {}", v["version"].as_str()?))
        }
    }
}

/// One case on one server and transport, with a fresh server.
async fn one_run(
    args: &SuiteArgs,
    case: &Case,
    server: Server,
    transport: Transport,
    k: usize,
    port_k: &mut usize,
) -> Result<Outcome> {
    let mut out = Outcome {
        case: case.label.clone(),
        server,
        transport,
        report: None,
        error: None,
        server_version: version(&args.launch, server),
    };
    let port = free_port(args, port_k)?;
    match start(&args.launch, server, port, &[]).await {
        Err(e) => out.error = Some(format!("{e:#}")),
        Ok(mut running) => {
            let go = if transport == Transport::WebSocket {
                match offered(&running.url).await {
                    Ok(t) if t.iter().any(|t| t == "websocket") => true,
                    Ok(_) => {
                        out.error = Some("n/a: websocket not offered".into());
                        false
                    }
                    Err(e) => {
                        out.error = Some(format!("probe: {e:#}"));
                        false
                    }
                }
            } else {
                true
            };
            if go {
                let s = spec(args, case, transport, &running.url, running.pid, k);
                match coordinator::run(&s).await {
                    Ok(r) => out.report = Some(r),
                    Err(e) => out.error = Some(format!("{e:#}")),
                }
            }
            stop(&mut running).await;
        }
    }
    Ok(out)
}

async fn run(args: SuiteArgs) -> Result<()> {
    let servers: Vec<Server> = args
        .servers
        .iter()
        .map(|s| Server::parse(s))
        .collect::<Result<_>>()?;
    let transports = transports(&args)?;
    let cases = cases(&args)?;
    let began = Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut port_k = 0usize;
    let mut k = 0usize;
    eprintln!(
        "herald-bench suite: {} case(s) × {} server(s) × {} transport(s); connect timeout {} ms for every server{}; {} cores shared by servers and load generator",
        cases.len(),
        servers.len(),
        transports.len(),
        args.launch.timeout_ms,
        if args.ack { "; acknowledged delivery (ext.ack)" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for case in &cases {
        for &transport in &transports {
            for &server in &servers {
                if server == Server::Cometd && transport == Transport::WebSocket {
                    continue;
                }
                let mut best: Option<Outcome> = None;
                for attempt in 1..=args.attempts.max(1) {
                    k += 1;
                    let t0 = Instant::now();
                    let out = one_run(&args, case, server, transport, k, &mut port_k).await?;
                    let noise = out.report.as_ref().map(|r| r.other_cpu_pct);
                    eprintln!(
                        "  {:<30} {:<7} {:<13} {:>6.1} s  {}{}",
                        case.label,
                        server.name(),
                        transport.as_str(),
                        t0.elapsed().as_secs_f64(),
                        brief(&out),
                        match noise {
                            Some(n) if n > args.noisy_cpu_pct => format!(
                                "  [other processes used {n:.0}% CPU{}]",
                                if attempt < args.attempts {
                                    ", running it again"
                                } else {
                                    ""
                                }
                            ),
                            _ => String::new(),
                        }
                    );
                    let quieter = match (&best, noise) {
                        (None, _) => true,
                        (Some(b), Some(n)) => b.report.as_ref().is_none_or(|r| n < r.other_cpu_pct),
                        (Some(_), None) => false,
                    };
                    if quieter {
                        best = Some(out);
                    }
                    if noise.is_none_or(|n| n <= args.noisy_cpu_pct) {
                        break;
                    }
                }
                let out = best.expect("at least one attempt");
                outcomes.push(out);
            }
        }
    }
    let table = tables(&outcomes, &servers, &transports, &cases);
    println!("{table}");
    println!(
        "Suite ran {:.0} s. Ratios are herald ÷ peer: above 1 means herald is higher (better for rates, worse for latency and memory). {} cores, shared by the server and the load generator; one server at a time.",
        began.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&outcomes)?)?;
        println!("Reports: {}", path.display());
    }
    Ok(())
}

fn brief(o: &Outcome) -> String {
    match (&o.report, &o.error) {
        (Some(r), _) => {
            let mut s = String::new();
            if let Some(i) = &r.idle {
                let _ = write!(s, "{:.0} B/client, ", i.bytes_per_client);
            }
            if let Some(m) = &r.max_rate {
                let _ = write!(s, "max {:.0}/s ({}), ", m.best_rate, m.stopped_because);
            } else if let Some(p) = r.phases.first() {
                let _ = write!(
                    s,
                    "{:.0} msg/s, p99 {:.1} ms, ",
                    p.delivered_per_s, p.latency.p99_ms
                );
            }
            let _ = write!(
                s,
                "lost {}, setup failures {}, errors {}",
                r.lost, r.setup.failed, r.counters.errors
            );
            if r.ack {
                let _ = write!(s, ", acks refused {}", r.counters.ack_refused);
            }
            s
        }
        (None, Some(e)) => e.clone(),
        (None, None) => "?".into(),
    }
}

/// A metric row: its name and how to read it from a report.
struct Metric {
    name: &'static str,
    get: fn(&RunReport) -> Option<f64>,
    decimals: usize,
}

/// Rows whose herald ÷ peer ratio means nothing (counts that should be 0, the noise).
const NO_RATIO: [&str; 3] = ["lost", "other processes CPU %", "errors / re-handshakes"];

fn metrics(s: Scenario) -> Vec<Metric> {
    fn main(r: &RunReport) -> Option<&coordinator::PhaseReport> {
        r.main_phase()
    }
    let mut m = Vec::new();
    match s {
        Scenario::Fanout | Scenario::Chat => {
            m.push(Metric {
                name: "delivered msg/s",
                get: |r| main(r).map(|p| p.delivered_per_s),
                decimals: 0,
            });
        }
        Scenario::Idle => {
            m.push(Metric {
                name: "RSS per client, bytes",
                get: |r| r.idle.as_ref().map(|i| i.bytes_per_client),
                decimals: 0,
            });
            m.push(Metric {
                name: "setup, s",
                get: |r| Some(r.setup.secs),
                decimals: 1,
            });
        }
        Scenario::MaxRate => {
            m.push(Metric {
                name: "max publish rate /s",
                get: |r| r.max_rate.as_ref().map(|x| x.best_rate),
                decimals: 0,
            });
            m.push(Metric {
                name: "deliveries/s at max",
                get: |r| r.max_rate.as_ref().map(|x| x.best_delivered_per_s),
                decimals: 0,
            });
        }
    }
    m.push(Metric {
        name: "lost",
        get: |r| Some(r.lost as f64),
        decimals: 0,
    });
    m.push(Metric {
        name: "latency p50 ms",
        get: |r| main(r).map(|p| p.latency.p50_ms),
        decimals: 2,
    });
    m.push(Metric {
        name: "latency p99 ms",
        get: |r| main(r).map(|p| p.latency.p99_ms),
        decimals: 2,
    });
    m.push(Metric {
        name: "latency p99.9 ms",
        get: |r| main(r).map(|p| p.latency.p999_ms),
        decimals: 2,
    });
    m.push(Metric {
        name: "latency max ms",
        get: |r| main(r).map(|p| p.latency.max_ms),
        decimals: 2,
    });
    m.push(Metric {
        name: "server RSS peak MiB",
        get: |r| r.server.as_ref().map(|s| s.rss_peak_kb as f64 / 1024.0),
        decimals: 1,
    });
    m.push(Metric {
        name: "server CPU %",
        get: |r| r.server.as_ref().map(|s| s.cpu_pct),
        decimals: 0,
    });
    m.push(Metric {
        name: "load generator CPU %",
        get: |r| Some(r.generator_cpu_pct),
        decimals: 0,
    });
    m.push(Metric {
        name: "other processes CPU %",
        get: |r| Some(r.other_cpu_pct),
        decimals: 1,
    });
    m.push(Metric {
        name: "errors / re-handshakes",
        get: |r| {
            let c = &r.counters;
            Some((c.errors + c.rehandshakes + c.ack_refused + r.setup.failed as u64) as f64)
        },
        decimals: 0,
    });
    m
}

fn cell(o: Option<&Outcome>, m: &Metric) -> (String, Option<f64>) {
    match o {
        None => ("-".into(), None),
        Some(o) => match &o.report {
            Some(r) => match (m.get)(r) {
                Some(v) => (format!("{v:.*}", m.decimals), Some(v)),
                None => ("-".into(), None),
            },
            None => {
                let e = o.error.as_deref().unwrap_or("?");
                let short = if e.starts_with("n/a") { "n/a" } else { "error" };
                (short.into(), None)
            }
        },
    }
}

fn tables(
    outcomes: &[Outcome],
    servers: &[Server],
    transports: &[Transport],
    cases: &[Case],
) -> String {
    let mut s = String::new();
    for &t in transports {
        let cols: Vec<Server> = servers
            .iter()
            .copied()
            .filter(|&sv| !(sv == Server::Cometd && t == Transport::WebSocket))
            .collect();
        if cols.is_empty() {
            continue;
        }
        let peers: Vec<Server> = cols
            .iter()
            .copied()
            .filter(|&c| c != Server::Herald)
            .collect();
        let with_ratio = cols.contains(&Server::Herald);
        let _ = writeln!(s, "\n### {}\n", t.as_str());
        let mut head = String::from("| case | metric |");
        let mut rule = String::from("|---|---|");
        for c in &cols {
            let _ = write!(head, " {} |", c.name());
            rule.push_str("---:|");
        }
        if with_ratio {
            for p in &peers {
                let _ = write!(head, " herald÷{} |", p.name());
                rule.push_str("---:|");
            }
        }
        let _ = writeln!(s, "{head}\n{rule}");
        for case in cases {
            for m in metrics(case.scenario) {
                let mut line = format!("| {} | {} |", case.label, m.name);
                let mut vals = Vec::new();
                for &c in &cols {
                    let o = outcomes
                        .iter()
                        .find(|o| o.case == case.label && o.server == c && o.transport == t);
                    let (text, v) = cell(o, &m);
                    let _ = write!(line, " {text} |");
                    vals.push((c, v));
                }
                if with_ratio && NO_RATIO.contains(&m.name) {
                    for _ in &peers {
                        line.push_str("  |");
                    }
                } else if with_ratio {
                    let h = vals
                        .iter()
                        .find(|(c, _)| *c == Server::Herald)
                        .and_then(|x| x.1);
                    for p in &peers {
                        let v = vals.iter().find(|(c, _)| c == p).and_then(|x| x.1);
                        let r = match (h, v) {
                            (Some(h), Some(v)) if v != 0.0 => format!("{:.2}", h / v),
                            (Some(0.0), Some(_)) => "=".into(),
                            _ => "-".into(),
                        };
                        let _ = write!(line, " {r} |");
                    }
                }
                let _ = writeln!(s, "{line}");
            }
        }
    }
    // Errors, in full, below the tables.
    let errs: Vec<&Outcome> = outcomes.iter().filter(|o| o.report.is_none()).collect();
    if !errs.is_empty() {
        let _ = writeln!(s, "\nRuns without a report:");
        for o in errs {
            let _ = writeln!(
                s,
                "- {} / {} / {}: {}",
                o.case,
                o.server.name(),
                o.transport.as_str(),
                o.error.as_deref().unwrap_or("?")
            );
        }
    }
    let versions: Vec<String> = servers
        .iter()
        .filter_map(|&sv| {
            outcomes
                .iter()
                .find(|o| o.server == sv)
                .and_then(|o| o.server_version.clone())
        })
        .collect();
    let _ = writeln!(s, "\nServers: {}", versions.join(", "));
    s
}
