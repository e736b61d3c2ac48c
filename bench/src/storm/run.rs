//! One storm run: a fresh server, the workers set up, the drop, and the wait until every
//! client is back (or the bound), with the server's CPU and RSS sampled meanwhile.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::procs::{self, CpuTrace, Procs};
use super::worker::{Command, Event, Plan};
use super::{Contender, DropKind, Outcome, StormArgs};
use crate::bayeux::Transport;
use crate::procfs;
use crate::suite;
use crate::worker::now_us;

/// A port from `base + k` on that nothing listens on now.
fn free_port(base: u16, k: usize) -> Result<u16> {
    (0..50)
        .map(|i| base.wrapping_add(((k + i) % 100) as u16))
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        .context("no free port")
}

/// One drop against one server over one transport, with a fresh server.
pub async fn one(
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
            // TEST-NET-1 (RFC 5737): an address no one has, one per worker.
            forwarded_for: c
                .proxied
                .then(|| Ipv4Addr::new(192, 0, 2, 1 + (i % 250) as u8)),
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

    let drops0 = procs::listen_drops();
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
    if let (Some(a), Some(b)) = (drops0, procs::listen_drops()) {
        o.listen_drops = b.saturating_sub(a);
    }
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
