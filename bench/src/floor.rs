//! `floor`: what one request/response exchange over loopback TCP costs this machine, with
//! no HTTP and no Bayeux in it. A server process answers fixed-size requests with fixed-size
//! responses, the sizes of a long-poll connect and its reply; client processes keep every
//! connection busy with one exchange after another.
//!
//! Its rate bounds every long-polling figure from above: a long-polling server pays at least
//! this kernel work for each delivery it answers, and the load generator pays its side on
//! the same cores. A round in which each of N subscribers gets one answer cannot take less
//! than N ÷ this rate.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::procfs;
use crate::target::tcp_connect;

/// Upper bounds that keep a run bounded in count and time.
const MAX_CONNECTIONS: usize = 50_000;
const MAX_PER_PROCESS: usize = 10_000;
const MAX_SECS: f64 = 60.0;
const MAX_BYTES: usize = 64 * 1024;
/// Exchanges before this are not counted: connections are still opening.
const WARM_UP: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Args)]
pub struct FloorArgs {
    /// Connections, each doing one exchange after another.
    #[arg(short = 'n', long, default_value_t = 1000)]
    connections: usize,
    /// Client processes the connections are spread over.
    #[arg(long, default_value_t = 2)]
    procs: usize,
    /// Seconds measured, after a second of warm-up.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Bytes in each request (a long-poll connect, headers included, is about 300).
    #[arg(long, default_value_t = 300)]
    request_bytes: usize,
    /// Bytes in each response (a connect reply with one event, headers included, is about 450).
    #[arg(long, default_value_t = 450)]
    response_bytes: usize,
}

/// The sizes both sides of an exchange agree on.
#[derive(Debug, Clone, Copy, Args)]
pub struct Exchange {
    #[arg(long)]
    request_bytes: usize,
    #[arg(long)]
    response_bytes: usize,
}

/// One client process: its connections, and the window it counts exchanges in.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    exchange: Exchange,
    #[arg(long)]
    port: u16,
    #[arg(long)]
    connections: usize,
    #[arg(long)]
    source: Ipv4Addr,
    #[arg(long)]
    duration: f64,
}

/// Runs the measurement and prints what it found.
pub fn main(args: FloorArgs) -> Result<()> {
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        bail!("--connections must be between 1 and {MAX_CONNECTIONS}");
    }
    if !(args.duration > 0.0 && args.duration <= MAX_SECS) {
        bail!("--duration must be above 0 and at most {MAX_SECS} s");
    }
    let exchange = Exchange {
        request_bytes: args.request_bytes.clamp(1, MAX_BYTES),
        response_bytes: args.response_bytes.clamp(1, MAX_BYTES),
    };
    let procs = args
        .procs
        .max(args.connections.div_ceil(MAX_PER_PROCESS))
        .clamp(1, 64);
    let exe = std::env::current_exe()?;
    let sizes = |command: &mut Command| {
        command
            .arg("--request-bytes")
            .arg(exchange.request_bytes.to_string())
            .arg("--response-bytes")
            .arg(exchange.response_bytes.to_string());
    };

    let mut server = Command::new(&exe);
    server
        .arg("floor-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    sizes(&mut server);
    let mut server = Reaped(server.spawn().context("starting the floor server")?);
    let port: u16 = first_line(&mut server.0)?
        .trim()
        .parse()
        .context("the floor server's port")?;

    let mut clients = Vec::new();
    for i in 0..procs {
        let share = args.connections / procs + usize::from(i < args.connections % procs);
        let mut client = Command::new(&exe);
        client
            .arg("floor-client")
            .args(["--port", &port.to_string()])
            .args(["--connections", &share.to_string()])
            .args(["--source", &format!("127.0.0.{}", 2 + i)])
            .args(["--duration", &args.duration.to_string()])
            .stdout(Stdio::piped());
        sizes(&mut client);
        clients.push(Reaped(client.spawn().context("starting a floor client")?));
    }

    let cpu = |pids: &[u32]| -> f64 { pids.iter().filter_map(|&p| procfs::cpu_secs(p)).sum() };
    let client_pids: Vec<u32> = clients.iter().map(|c| c.0.id()).collect();
    std::thread::sleep(WARM_UP);
    let (server_before, clients_before) = (cpu(&[server.0.id()]), cpu(&client_pids));
    std::thread::sleep(Duration::from_secs_f64(args.duration));
    let (server_after, clients_after) = (cpu(&[server.0.id()]), cpu(&client_pids));

    let mut exchanges = 0u64;
    for client in &mut clients {
        exchanges += first_line(&mut client.0)?
            .trim()
            .parse::<u64>()
            .context("a floor client's count")?;
    }
    if exchanges == 0 {
        bail!("no exchange completed");
    }
    let rate = exchanges as f64 / args.duration;
    let per_exchange_us = |secs: f64| secs * 1e6 / exchanges as f64;
    println!(
        "loopback floor: {} connections over {procs} client processes, {} B requests, {} B responses",
        args.connections, exchange.request_bytes, exchange.response_bytes
    );
    println!("  exchanges/s: {rate:.0}");
    println!(
        "  CPU per exchange: server {:.1} µs, clients {:.1} µs",
        per_exchange_us(server_after - server_before),
        per_exchange_us(clients_after - clients_before)
    );
    println!(
        "  one exchange on every connection takes at least {:.1} ms",
        args.connections as f64 * 1e3 / rate
    );
    Ok(())
}

/// A child process that is killed and reaped however the run ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The one line a child prints.
fn first_line(child: &mut Child) -> Result<String> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    Ok(line)
}

/// The server process: answers on 127.0.0.1 until its stdin closes (the parent is gone).
pub fn server(exchange: Exchange) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        println!("{}", listener.local_addr()?.port());
        let parent_gone = tokio::task::spawn_blocking(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        });
        let accept = async {
            loop {
                let Ok((mut tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                tokio::spawn(async move {
                    let mut request = vec![0; exchange.request_bytes];
                    let response = vec![b'r'; exchange.response_bytes];
                    while tcp.read_exact(&mut request).await.is_ok() {
                        if tcp.write_all(&response).await.is_err() {
                            return;
                        }
                    }
                });
            }
        };
        tokio::select! {
            _ = parent_gone => Ok(()),
            () = accept => Ok(()),
        }
    })
}

/// A client process: keeps its connections exchanging, then prints how many exchanges
/// completed between the warm-up's end and `duration` later, and exits.
pub fn client(args: ClientArgs) -> Result<()> {
    let connections = args.connections.min(MAX_PER_PROCESS);
    let duration = Duration::from_secs_f64(args.duration.clamp(0.0, MAX_SECS));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let count = Arc::new(AtomicU64::new(0));
        let server = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
        for _ in 0..connections {
            let count = Arc::clone(&count);
            let exchange = args.exchange;
            tokio::spawn(async move {
                let Ok(mut tcp) = tcp_connect(args.source, server).await else {
                    return;
                };
                let request = vec![b'q'; exchange.request_bytes];
                let mut response = vec![0; exchange.response_bytes];
                while tcp.write_all(&request).await.is_ok()
                    && tcp.read_exact(&mut response).await.is_ok()
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let start = Instant::now();
        tokio::time::sleep_until((start + WARM_UP).into()).await;
        let before = count.load(Ordering::Relaxed);
        tokio::time::sleep_until((start + WARM_UP + duration).into()).await;
        println!("{}", count.load(Ordering::Relaxed) - before);
    });
    Ok(())
}
