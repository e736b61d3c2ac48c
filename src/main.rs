//! The `herald` binary: settings from a file, flags and environment, logs, and a graceful
//! shutdown on Ctrl-C or SIGTERM; `herald check` and `herald publish` for operators and
//! scripts. Everything else is in the library.

mod publish;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};
use herald::app::{App, Served};
use herald::config;
use herald::config::file::{AdminSection, ConfigError, ConfigFile, Secret};
use herald::protocol::ChannelName;
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
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks a configuration file and says what is wrong in it, by line.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Publishes one message through a running herald's backend API.
    Publish(publish::Publish),
}

/// Serving: every setting may come from the file (`--config`); a flag or environment
/// variable overrides the file, which overrides the default.
#[derive(Debug, clap::Args)]
struct Serve {
    /// A TOML configuration file (see herald.example.toml).
    #[arg(long, env = "HERALD_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HERALD_BIND")]
    bind: Option<SocketAddr>,
    /// Path of the Bayeux endpoint [default: /cometd].
    #[arg(long, env = "HERALD_PATH")]
    path: Option<String>,
    /// How long a /meta/connect is held, in ms [default: 30000].
    #[arg(long, env = "HERALD_TIMEOUT")]
    timeout: Option<u64>,
    /// How long clients wait between connects, in ms [default: 0].
    #[arg(long, env = "HERALD_INTERVAL")]
    interval: Option<u64>,
    /// How long a session outlives its last connect, in ms [default: 10000].
    #[arg(long, env = "HERALD_MAX_INTERVAL")]
    max_interval: Option<u64>,
    /// Largest request body, in bytes [default: 1048576].
    #[arg(long, env = "HERALD_MAX_BODY")]
    max_body: Option<usize>,
    /// How long a WebSocket may go without taking a frame herald writes, in ms; then its
    /// session is cut off [default: 30000].
    #[arg(long, env = "HERALD_WRITE_TIMEOUT")]
    write_timeout: Option<u64>,
    /// How long a request's body may take to arrive, in ms; then 408 [default: 30000].
    #[arg(long, env = "HERALD_BODY_TIMEOUT")]
    body_timeout: Option<u64>,
    /// How long a connection may take to send a request's headers, from when it opens or
    /// from its previous answer, in ms; then it is closed [default: 30000].
    #[arg(long, env = "HERALD_IDLE_TIMEOUT")]
    idle_timeout: Option<u64>,
    /// Most messages queued for one client before its session is ended [default: 10000].
    #[arg(long, env = "HERALD_MAX_QUEUE")]
    max_queue: Option<usize>,
    /// Most bytes of messages queued for one client before its session is ended
    /// [default: 16777216].
    #[arg(long, env = "HERALD_MAX_QUEUE_BYTES")]
    max_queue_bytes: Option<usize>,
    /// Most messages in one request or WebSocket frame; more get 413 or a 1009 close
    /// [default: 1000].
    #[arg(long, env = "HERALD_MAX_BATCH")]
    max_batch: Option<usize>,
    /// Publishes per second one session may make; past it 429::publish_rate_exceeded
    /// [default: 1000, 0 for no limit].
    #[arg(long, env = "HERALD_MAX_PUBLISH_RATE")]
    max_publish_rate: Option<u32>,
    /// Most connections served at once; more are answered 503 [default: nine tenths of the
    /// open-file limit].
    #[arg(long, env = "HERALD_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Most subscriptions one session may hold [default: 1000].
    #[arg(long, env = "HERALD_MAX_SUBSCRIPTIONS")]
    max_subscriptions: Option<usize>,
    /// Most sessions this node holds; more handshakes get 503::server_full [default: 50000].
    #[arg(long, env = "HERALD_MAX_SESSIONS")]
    max_sessions: Option<usize>,
    /// Handshakes per second from one remote address (a local proxy's clients by their
    /// X-Forwarded-For); past it 429::handshake_rate_exceeded [default: 100, 0 for none].
    #[arg(long, env = "HERALD_MAX_HANDSHAKE_RATE")]
    max_handshake_rate: Option<u32>,
    /// Bind each session to the browser that made it (its BAYEUX_BROWSER cookie), so its
    /// clientId alone is useless elsewhere [default: true].
    #[arg(long, env = "HERALD_BIND_SESSIONS", action = ArgAction::Set)]
    bind_sessions: Option<bool>,
    /// Handshakes per second past which clients sent back to the handshake are told to
    /// come back spread out, over at most --surge-spread [default: 2000, 0 for never].
    #[arg(long, env = "HERALD_HANDSHAKE_SURGE")]
    handshake_surge: Option<u32>,
    /// The longest, in ms, a client of a reconnect storm is told to wait [default: 5000].
    #[arg(long, env = "HERALD_SURGE_SPREAD")]
    surge_spread: Option<u64>,
    /// Connection types to offer, comma-separated [default: all].
    #[arg(long, env = "HERALD_TRANSPORTS", value_delimiter = ',', value_parser = parse_connection_type)]
    transports: Option<Vec<ConnectionType>>,
    /// Origins allowed to make cross-origin requests, comma-separated [default: any].
    #[arg(long, env = "HERALD_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    /// Long-polls one browser may hold at once [default: 4].
    #[arg(long, env = "HERALD_MAX_POLLS_PER_BROWSER")]
    max_polls_per_browser: Option<usize>,
    /// Accept publishes without a clientId, as Faye does [default: false].
    #[arg(long, env = "HERALD_ANONYMOUS_PUBLISH", num_args = 0..=1, default_missing_value = "true")]
    anonymous_publish: Option<bool>,
    /// The `ack` extension: reliable, ordered delivery for clients that ask [default: true].
    #[arg(long, env = "HERALD_ACK", action = ArgAction::Set)]
    ack: Option<bool>,
    /// The `timesync` extension: clock offset and lag for clients that ask [default: true].
    #[arg(long, env = "HERALD_TIMESYNC", action = ArgAction::Set)]
    timesync: Option<bool>,
    /// The `timestamp` extension: a `timestamp` on every message sent [default: false].
    #[arg(long, env = "HERALD_TIMESTAMP", action = ArgAction::Set)]
    timestamp: Option<bool>,
    /// Serve the demo chat page at / [default: true].
    #[arg(long, env = "HERALD_DEMO", action = ArgAction::Set)]
    demo: Option<bool>,
    /// Keys that open the backend API, comma-separated (overrides `[api] keys`).
    #[arg(
        long,
        env = "HERALD_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    api_keys: Option<Vec<String>>,
    /// The password that opens the admin page at /admin (overrides `[admin] password`;
    /// without one there is no admin page).
    #[arg(long, env = "HERALD_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Log filter, e.g. `info` or `herald=debug` [default: info].
    #[arg(long, env = "HERALD_LOG")]
    log: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { file }) => check(&file),
        Some(Command::Publish(publish)) => publish.run().await,
        None => match serve(cli.serve).await {
            Ok(code) => code,
            Err(error) => {
                eprintln!("herald: {error}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The file (with `overrides` laid over it) and the parts it describes, or every problem.
fn load(
    path: Option<&Path>,
    overrides: impl FnOnce(&mut ConfigFile),
) -> Result<(ConfigFile, App), Vec<ConfigError>> {
    let (mut file, source) = match path {
        Some(path) => config::file::load(path).map_err(|error| vec![error])?,
        None => Default::default(),
    };
    overrides(&mut file);
    let mut app = App::from_file(&file, &source)?;
    if let Some(keys) = &file.api_keys {
        app.set_api_keys(keys.clone());
    }
    Ok((file, app))
}

fn report(path: &Path, errors: &[ConfigError]) {
    for error in errors {
        eprintln!("{}: {error}", path.display());
    }
}

/// `herald check FILE`.
fn check(path: &Path) -> ExitCode {
    match load(Some(path), |_| {}) {
        Ok(_) => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            report(path, &errors);
            ExitCode::from(2)
        }
    }
}

impl Serve {
    /// Lays the flags and environment variables given over the file's keys.
    fn override_file(self, file: &mut ConfigFile) {
        let or = |flag: Option<u64>, key: &mut Option<u64>| *key = flag.or(key.take());
        or(self.timeout, &mut file.timeout);
        or(self.interval, &mut file.interval);
        or(self.max_interval, &mut file.max_interval);
        or(self.body_timeout, &mut file.body_timeout);
        or(self.write_timeout, &mut file.write_timeout);
        or(self.idle_timeout, &mut file.idle_timeout);
        or(self.surge_spread, &mut file.surge_spread);
        file.bind = self.bind.or(file.bind);
        file.path = self.path.or(file.path.take());
        file.max_body = self.max_body.or(file.max_body);
        file.max_queue = self.max_queue.or(file.max_queue);
        file.max_queue_bytes = self.max_queue_bytes.or(file.max_queue_bytes);
        file.max_subscriptions = self.max_subscriptions.or(file.max_subscriptions);
        file.max_connections = self.max_connections.or(file.max_connections);
        file.max_batch = self.max_batch.or(file.max_batch);
        file.max_publish_rate = self.max_publish_rate.or(file.max_publish_rate);
        file.max_sessions = self.max_sessions.or(file.max_sessions);
        file.max_handshake_rate = self.max_handshake_rate.or(file.max_handshake_rate);
        file.handshake_surge = self.handshake_surge.or(file.handshake_surge);
        file.bind_sessions = self.bind_sessions.or(file.bind_sessions);
        file.transports = self.transports.or(file.transports.take());
        file.allowed_origins = self.allowed_origins.or(file.allowed_origins.take());
        file.max_polls_per_browser = self.max_polls_per_browser.or(file.max_polls_per_browser);
        file.anonymous_publish = self.anonymous_publish.or(file.anonymous_publish);
        file.demo = self.demo.or(file.demo);
        file.log = self.log.or(file.log.take());
        let api_keys = self
            .api_keys
            .map(|keys| keys.into_iter().map(Secret::new).collect());
        file.api_keys = api_keys.or(file.api_keys.take());
        if let Some(password) = self.admin_password {
            file.admin = Some(AdminSection {
                password: Secret::new(password),
            });
        }
        let extensions = &mut file.extensions;
        extensions.ack = self.ack.or(extensions.ack);
        extensions.timesync = self.timesync.or(extensions.timesync);
        extensions.timestamp = self.timestamp.or(extensions.timestamp);
    }
}

async fn serve(args: Serve) -> std::io::Result<ExitCode> {
    // Each client holds a connection: take every file the system allows (the soft limit is
    // often 1,024 below a far higher hard one), before the connection limit is drawn from it.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("herald: cannot raise the open-file limit: {error}");
    }
    let path = args.config.clone();
    let (file, app) = match load(path.as_deref(), |file| args.override_file(file)) {
        Ok(loaded) => loaded,
        Err(errors) => {
            report(path.as_deref().unwrap_or(Path::new("")), &errors);
            return Ok(ExitCode::from(2));
        }
    };
    let log = file.log.as_deref().unwrap_or("info");
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(log).unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let config = Config::from_file(&file);
    let demo = file.demo.unwrap_or(true);
    let bind = file.bind.unwrap_or(([127, 0, 0, 1], 8080).into());
    let endpoint = config.path.clone();
    let mut builder = Herald::builder().config(config).demo(demo).metrics();
    if demo {
        let echo = ChannelName::parse("/service/echo").expect("a valid channel name");
        builder = builder.service(echo, herald::service::echo);
    }
    let Served { herald, router } = app.build(builder);
    let listener = herald::server::listen(bind)?;
    let address = listener.local_addr()?;
    tracing::info!(
        "herald listening on http://{address}{endpoint} (demo page at http://{address}/)"
    );
    let stopping = herald.clone();
    let options = herald::server::Options {
        idle_timeout: herald.config().idle_timeout,
        max_connections: file
            .max_connections
            .unwrap_or_else(herald::server::default_max_connections),
        traffic: Some(std::sync::Arc::clone(herald.traffic())),
    };
    herald::server::serve_with(listener, router, options, async move {
        shutdown_signal().await;
        tracing::info!("shutting down: answering held connects");
        stopping.shutdown();
    })
    .await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
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
