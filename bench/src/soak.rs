//! `herald-bench soak`: a long run against one herald it starts itself. Subscribers with
//! acknowledged delivery on every transport churn (abrupt drops, transport switches,
//! departures with replacements) while publishers send numbered messages; at the end every
//! account is checked number by number (see [`crate::soak_book`]). The server's RSS is read
//! every 10 s and fitted with a line after the warm-up, to show a leak as a slope; then
//! join-and-leave cycles show whether the memory of departed clients is given back.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::procfs::{cpu_secs, machine_busy_secs, rss_kb};
use crate::soak_report::{self, CpuUse, Cycle, Report};
use crate::soak_wire::Kind;
use crate::soak_worker::{Cmd, Ev, Plan};

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// The herald binary; it is started on a free loopback port with its default flags.
    #[arg(long, default_value = "target/release/herald")]
    pub herald: PathBuf,
    /// Seconds of publishing and churn.
    #[arg(long, default_value_t = 1800.0)]
    pub duration: f64,
    /// Subscribers at any moment.
    #[arg(short = 'n', long, default_value_t = 5000)]
    pub clients: usize,
    /// Shares of the transports, `kind=weight,…` (long-polling, websocket, eventsource,
    /// callback-polling).
    #[arg(
        long,
        default_value = "long-polling=45,websocket=45,callback-polling=10"
    )]
    pub mix: String,
    /// Channels, each with its own publisher; subscriber i listens to channel i mod this.
    #[arg(long, default_value_t = 250)]
    pub channels: usize,
    /// Messages/s over all channels.
    #[arg(long, default_value_t = 250.0)]
    pub rate: f64,
    /// Mean seconds between two churn events of one client.
    #[arg(long, default_value_t = 300.0)]
    pub churn_mean: f64,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    pub procs: usize,
    /// Seconds after the start of publishing left out of the RSS slope.
    #[arg(long, default_value_t = 300.0)]
    pub warmup: f64,
    /// Join-and-leave cycles at the end.
    #[arg(long, default_value_t = 5)]
    pub cycles: u32,
    /// Seconds to wait after every client left before reading RSS.
    #[arg(long, default_value_t = 15.0)]
    pub settle: f64,
    #[arg(long, default_value_t = 50)]
    pub payload: usize,
    /// Clients setting up at once, per worker.
    #[arg(long, default_value_t = 50)]
    pub setup_concurrency: usize,
    /// Workers use source addresses 127.0.0.(2 + offset + i).
    #[arg(long, default_value_t = 40)]
    pub src_offset: usize,
    /// Where the report (JSON, with every RSS sample) and herald's log go.
    #[arg(long, default_value = "target/herald-bench")]
    pub out: PathBuf,
}

/// The classes of `n` clients in `mix`'s proportions, interleaved (smooth weighted
/// round-robin), so that every channel and worker gets a similar mix.
fn classes(mix: &str, n: usize) -> Result<Vec<Kind>> {
    let mut weights = Vec::new();
    for part in mix.split(',').filter(|p| !p.is_empty()) {
        let (k, w) = part.split_once('=').context("--mix: kind=weight")?;
        let kind = Kind::ALL
            .into_iter()
            .find(|x| x.as_str() == k.trim())
            .with_context(|| format!("--mix: unknown kind {k}"))?;
        weights.push((kind, w.trim().parse::<f64>()?));
    }
    let total: f64 = weights.iter().map(|w| w.1).sum();
    if total <= 0.0 {
        bail!("--mix: no weight");
    }
    let mut credit = vec![0.0; weights.len()];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        for (c, w) in credit.iter_mut().zip(&weights) {
            *c += w.1;
        }
        let i = (0..credit.len())
            .max_by(|&a, &b| credit[a].total_cmp(&credit[b]))
            .expect("weights");
        credit[i] -= total;
        out.push(weights[i].0);
    }
    Ok(out)
}

/// The worker processes and their pipes.
struct Workers(Vec<(Child, ChildStdin, Lines<BufReader<ChildStdout>>)>);

impl Workers {
    async fn spawn(plans: &[Plan]) -> Result<Workers> {
        let exe = std::env::current_exe()?;
        let mut ws = Vec::new();
        for plan in plans {
            let mut child = Command::new(&exe)
                .arg("soak-worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            let mut stdin = child.stdin.take().context("stdin")?;
            let stdout = BufReader::new(child.stdout.take().context("stdout")?).lines();
            let mut line = serde_json::to_string(plan)?;
            line.push('\n');
            stdin.write_all(line.as_bytes()).await?;
            ws.push((child, stdin, stdout));
        }
        Ok(Workers(ws))
    }

    async fn send(&mut self, cmds: impl Fn(usize) -> Cmd) -> Result<()> {
        for (i, (_, stdin, _)) in self.0.iter_mut().enumerate() {
            let mut line = serde_json::to_string(&cmds(i))?;
            line.push('\n');
            stdin.write_all(line.as_bytes()).await?;
        }
        Ok(())
    }

    async fn gather(&mut self) -> Result<Vec<Ev>> {
        let mut evs = Vec::new();
        for (i, (_, _, out)) in self.0.iter_mut().enumerate() {
            let line = out
                .next_line()
                .await?
                .with_context(|| format!("worker {i} ended"))?;
            evs.push(serde_json::from_str(&line)?);
        }
        Ok(evs)
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Entry point of `herald-bench soak`.
pub fn main(args: SoakArgs) -> Result<()> {
    if args.clients == 0 || args.clients > 20_000 || args.channels == 0 || args.procs == 0 {
        bail!("--clients must be 1..=20000, --channels and --procs above 0");
    }
    let rate_ok = args.rate > 0.0 && args.rate <= 10_000.0;
    if !rate_ok || !(1.0..=86_400.0).contains(&args.duration) {
        bail!("--rate must be in (0, 10000], --duration in [1, 86400] s");
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Setup, drain and cycles come on top of the window: 30 minutes is ample for them.
    let deadline = Duration::from_secs_f64(args.duration + 1800.0);
    let report = rt.block_on(async {
        tokio::time::timeout(deadline, run(&args))
            .await
            .context("the soak passed its hard deadline")?
    })?;
    std::fs::create_dir_all(&args.out)?;
    let json = args.out.join("soak.json");
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    print!("{}", soak_report::summary(&report));
    println!("report: {}", json.display());
    Ok(())
}

async fn run(args: &SoakArgs) -> Result<Report> {
    std::fs::create_dir_all(&args.out)?;
    let port = free_port()?;
    let log = std::fs::File::create(args.out.join("soak-herald.log"))?;
    let mut herald = Command::new(&args.herald)
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args.herald.display()))?;
    let pid = herald.id().context("no pid")?;
    let result = drive(args, port, pid).await;
    // SIGTERM to the one process this started, then SIGKILL if it lingers.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await;
    if tokio::time::timeout(Duration::from_secs(10), herald.wait())
        .await
        .is_err()
    {
        let _ = herald.start_kill();
    }
    result
}

fn eprint_progress(t0: Instant, what: &str) {
    eprintln!("[soak {:>6.0} s] {what}", t0.elapsed().as_secs_f64());
}

async fn drive(args: &SoakArgs, port: u16, pid: u32) -> Result<Report> {
    let t0 = Instant::now();
    let url = format!("http://127.0.0.1:{port}/cometd");
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if t0.elapsed() > Duration::from_secs(20) {
            bail!("herald did not listen within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_start = rss_kb(pid).unwrap_or(0);
    let classes = classes(&args.mix, args.clients)?;
    let share = |w: usize| -> Vec<(Kind, usize)> {
        (0..args.clients)
            .filter(|g| g % args.procs == w)
            .map(|g| (classes[g], g))
            .collect()
    };
    let plans: Vec<Plan> = (0..args.procs)
        .map(|w| Plan {
            worker: w,
            url: url.clone(),
            src: std::net::Ipv4Addr::new(127, 0, 0, (2 + args.src_offset + w).min(254) as u8),
            clients: share(w),
            channels: args.channels,
            publishes: (0..args.channels).filter(|c| c % args.procs == w).collect(),
            rate: args.rate / args.channels as f64,
            churn_mean: args.churn_mean.max(1.0),
            payload: args.payload.min(4096),
            setup_concurrency: args.setup_concurrency.max(1),
            deadline_ms: ((args.duration + 1800.0) * 1000.0) as u64,
        })
        .collect();
    let mut workers = Workers::spawn(&plans).await?;
    let mut setup_failed = 0;
    for ev in workers.gather().await? {
        if let Ev::Ready { failed, .. } = ev {
            setup_failed += failed;
        }
    }
    eprint_progress(
        t0,
        &format!(
            "{} clients set up ({setup_failed} failed); publishing",
            args.clients
        ),
    );
    let duration_ms = (args.duration * 1000.0) as u64;
    workers.send(|_| Cmd::Go { duration_ms }).await?;
    let go = Instant::now();
    let cpu_go = (
        cpu_secs(pid).unwrap_or(0.0),
        machine_busy_secs().unwrap_or(0.0),
    );
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = samples.clone();
    let sampler = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            let Some(kb) = rss_kb(pid) else { break };
            let mut s = kept.lock().unwrap();
            s.push((go.elapsed().as_secs_f64(), kb));
            if s.len() % 6 == 1 {
                eprint_progress(t0, &format!("herald RSS {} MB", kb / 1024));
            }
        }
    });
    let mut publishers = Vec::new();
    for ev in workers.gather().await? {
        if let Ev::Published { publishers: p } = ev {
            publishers.extend(p);
        }
    }
    let window = go.elapsed().as_secs_f64().max(1.0);
    let cpu = CpuUse {
        herald_pct: (cpu_secs(pid).unwrap_or(0.0) - cpu_go.0) / window * 100.0,
        machine_pct: (machine_busy_secs().unwrap_or(0.0) - cpu_go.1) / window * 100.0,
    };
    sampler.abort();
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let mut finals = vec![0u64; args.channels];
    for p in &publishers {
        finals[p.channel] = p.next;
    }
    eprint_progress(t0, "publishing over; draining");
    workers
        .send(|_| Cmd::Final {
            finals: finals.clone(),
            wait_ms: 120_000,
            quiet_ms: 20_000,
        })
        .await?;
    let mut results = Vec::new();
    for ev in workers.gather().await? {
        if let Ev::Result(r) = ev {
            results.push(r);
        }
    }
    eprint_progress(t0, "accounts checked; clients leave");
    workers.send(|_| Cmd::Leave).await?;
    workers.gather().await?;
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let rss_after_soak = rss_kb(pid).unwrap_or(0);
    let mut cycles = Vec::new();
    for k in 1..=args.cycles {
        workers
            .send(|w| Cmd::Join {
                cycle: k,
                clients: share(w),
            })
            .await?;
        let mut joined = 0;
        for ev in workers.gather().await? {
            if let Ev::Joined { ready, .. } = ev {
                joined += ready;
            }
        }
        tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
        let rss_joined = rss_kb(pid).unwrap_or(0);
        workers.send(|_| Cmd::Leave).await?;
        workers.gather().await?;
        tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
        let rss_left = rss_kb(pid).unwrap_or(0);
        eprint_progress(
            t0,
            &format!(
                "cycle {k}: {joined} joined, RSS {rss_joined} KB, after leaving {rss_left} KB"
            ),
        );
        cycles.push(Cycle {
            joined,
            rss_joined_kb: rss_joined,
            rss_left_kb: rss_left,
        });
    }
    workers.send(|_| Cmd::Exit).await?;
    Ok(Report::new(
        args,
        setup_failed,
        cpu,
        rss_start,
        samples,
        publishers,
        results,
        rss_after_soak,
        cycles,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_classes_in_proportion() {
        let c = classes("long-polling=2,websocket=1,eventsource=1", 8).unwrap();
        let count = |k| c.iter().filter(|&&x| x == k).count();
        assert_eq!(count(Kind::LongPolling), 4);
        assert_eq!(count(Kind::WebSocket), 2);
        assert_eq!(
            c[..4].iter().filter(|&&x| x == Kind::LongPolling).count(),
            2
        );
        assert!(classes("nope=1", 1).is_err());
    }
}
