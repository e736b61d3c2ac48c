//! The `herald` binary: settings from flags and environment, logs, and a graceful
//! shutdown on Ctrl-C or SIGTERM. Everything else is in the library.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Parser};
use herald::{Config, ConnectionType, Herald};
use tracing_subscriber::EnvFilter;

/// jemalloc rather than the system allocator: each idle long-poll costs about 2 KB less
/// (hyper's connection buffers fit its size classes), the request path spends less time
/// allocating, and memory freed when clients leave goes back to the system.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A Bayeux (CometD / Faye) push server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "HERALD_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Path of the Bayeux endpoint.
    #[arg(long, env = "HERALD_PATH", default_value = "/cometd")]
    path: String,
    /// How long a /meta/connect is held, in ms.
    #[arg(long, env = "HERALD_TIMEOUT", default_value_t = 30_000)]
    timeout: u64,
    /// How long clients wait between connects, in ms.
    #[arg(long, env = "HERALD_INTERVAL", default_value_t = 0)]
    interval: u64,
    /// How long a session outlives its last connect, in ms.
    #[arg(long, env = "HERALD_MAX_INTERVAL", default_value_t = 10_000)]
    max_interval: u64,
    /// Largest request body, in bytes.
    #[arg(long, env = "HERALD_MAX_BODY", default_value_t = 1024 * 1024)]
    max_body: usize,
    /// Most messages queued for one client before its session is ended.
    #[arg(long, env = "HERALD_MAX_QUEUE", default_value_t = 10_000)]
    max_queue: usize,
    /// Connection types to offer, comma-separated (default: all).
    #[arg(long, env = "HERALD_TRANSPORTS", value_delimiter = ',', value_parser = parse_connection_type)]
    transports: Vec<ConnectionType>,
    /// Origins allowed to make cross-origin requests, comma-separated (default: any).
    #[arg(long, env = "HERALD_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Long-polls one browser may hold at once.
    #[arg(long, env = "HERALD_MAX_POLLS_PER_BROWSER", default_value_t = 4)]
    max_polls_per_browser: usize,
    /// Accept publishes without a clientId (as Faye does).
    #[arg(long, env = "HERALD_ANONYMOUS_PUBLISH")]
    anonymous_publish: bool,
    /// The `ack` extension: reliable, ordered delivery for clients that ask (`--ack false`
    /// turns it off).
    #[arg(long, env = "HERALD_ACK", default_value_t = true, action = ArgAction::Set)]
    ack: bool,
    /// The `timesync` extension: clock offset and lag for clients that ask.
    #[arg(long, env = "HERALD_TIMESYNC", default_value_t = true, action = ArgAction::Set)]
    timesync: bool,
    /// The `timestamp` extension: a `timestamp` on every message sent (`--timestamp true`).
    #[arg(long, env = "HERALD_TIMESTAMP", default_value_t = false, action = ArgAction::Set)]
    timestamp: bool,
    /// Log filter, e.g. `info` or `herald=debug`.
    #[arg(long, env = "HERALD_LOG", default_value = "info")]
    log: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&args.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let mut config = Config {
        path: args.path,
        timeout: Duration::from_millis(args.timeout),
        interval: Duration::from_millis(args.interval),
        max_interval: Duration::from_millis(args.max_interval),
        max_body_bytes: args.max_body,
        max_queue: args.max_queue,
        anonymous_publish: args.anonymous_publish,
        max_polls_per_browser: args.max_polls_per_browser,
        ack: args.ack,
        timesync: args.timesync,
        timestamp: args.timestamp,
        ..Config::default()
    };
    if !args.transports.is_empty() {
        config.connection_types = args.transports;
    }
    if !args.allowed_origins.is_empty() {
        config.allowed_origins = Some(args.allowed_origins);
    }
    let path = config.path.clone();
    let herald = Herald::new(config);
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    let address = listener.local_addr()?;
    tracing::info!("herald listening on http://{address}{path} (demo page at http://{address}/)");
    let stopping = herald.clone();
    herald::server::serve(listener, herald.router(), async move {
        shutdown_signal().await;
        tracing::info!("shutting down: answering held connects");
        stopping.shutdown();
    })
    .await?;
    tracing::info!("stopped");
    Ok(())
}

fn parse_connection_type(name: &str) -> Result<ConnectionType, String> {
    ConnectionType::from_name(name).ok_or_else(|| {
        let known: Vec<_> = ConnectionType::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown transport {name:?}; known: {}", known.join(", "))
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
