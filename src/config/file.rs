//! The configuration file (TOML, CFG-1): every flag, plus the sections for sign-in,
//! channel rules, the backend API, webhooks, presence and extensions.
//!
//! Parsing stops at the first syntax or type error; everything else (patterns, key files,
//! sections that contradict each other) is checked by the parts that use it, and every
//! problem is reported with its line, never with the value itself: a value may be a secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// A problem in a configuration file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line, or 0 when the problem has no one place (a file that cannot be read).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, without the value.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => f.write_str(&self.message),
            line => write!(f, "line {line}, column {}: {}", self.column, self.message),
        }
    }
}

/// A value with no place in the file (a problem found while starting).
impl From<String> for ConfigError {
    fn from(message: String) -> Self {
        Self {
            line: 0,
            column: 0,
            message,
        }
    }
}

/// The file's text, kept to turn byte offsets into lines and columns.
#[derive(Debug, Clone, Default)]
pub struct Source {
    text: String,
    /// The file's folder: relative paths in the file are relative to it.
    dir: PathBuf,
}

impl Source {
    /// The error `message` about the value at `span` (byte offsets).
    pub fn error(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        ConfigError {
            line,
            column,
            message: message.into(),
        }
    }

    /// The error `message` about `value`, at its place in the file.
    pub fn at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.error(value.span(), message)
    }

    /// `path` as written in the file, made relative to the file's folder.
    pub fn path(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }
}

/// A secret from the file (a key, a password): its `Debug` never shows it, so it stays out
/// of logs and error messages.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret from elsewhere (an environment variable, a file).
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, to compare or send, never to print.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> Result<(ConfigFile, Source), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError::from(format!("cannot read {}: {error}", path.display())))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(text, dir)
}

/// Parses a file's text; `dir` is where relative paths in it start.
pub fn parse(text: String, dir: PathBuf) -> Result<(ConfigFile, Source), ConfigError> {
    let source = Source { text, dir };
    match toml::from_str::<ConfigFile>(&source.text) {
        Ok(file) => Ok((file, source)),
        // The message only, never the excerpt of the line: it may hold a secret.
        Err(error) => {
            let message = without_value(error.message());
            Err(match error.span() {
                Some(span) => source.error(span, message),
                None => ConfigError::from(message),
            })
        }
    }
}

/// A parser's message without the value it quotes (`invalid type: string "…"`): a value
/// in the wrong place may be a secret.
fn without_value(message: &str) -> String {
    let Some(rest) = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|start| message.strip_prefix(start).map(|rest| (start, rest)))
    else {
        return message.to_owned();
    };
    let (start, rest) = rest;
    let kind_end = rest.find([' ', ',']).unwrap_or(rest.len());
    let after = rest[kind_end..]
        .find(", expected")
        .map_or("", |i| &rest[kind_end + i..]);
    format!("{start}{}{after}", &rest[..kind_end])
}

/// The whole file. Every key is optional; a flag or environment variable given when
/// herald starts overrides the key of the same name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Address to listen on.
    pub bind: Option<SocketAddr>,
    /// Path of the Bayeux endpoint.
    pub path: Option<String>,
    /// How long a `/meta/connect` is held, in ms.
    pub timeout: Option<u64>,
    /// How long clients wait between connects, in ms.
    pub interval: Option<u64>,
    /// How long a session outlives its last connect, in ms.
    pub max_interval: Option<u64>,
    /// Largest request body, in bytes.
    pub max_body: Option<usize>,
    /// How long a WebSocket may go without taking a frame before its session is cut off,
    /// in ms.
    pub write_timeout: Option<u64>,
    /// How long a request's body may take to arrive, in ms.
    pub body_timeout: Option<u64>,
    /// How long a connection may take to send a request's headers, from when it opens or
    /// from its previous answer, in ms.
    pub idle_timeout: Option<u64>,
    /// Most messages queued for one client.
    pub max_queue: Option<usize>,
    /// Publishes per second one session may make (0: no limit).
    pub max_publish_rate: Option<u32>,
    /// Most messages in one request or WebSocket frame.
    pub max_batch: Option<usize>,
    /// Most bytes of messages queued for one client.
    pub max_queue_bytes: Option<usize>,
    /// Most connections served at once.
    pub max_connections: Option<usize>,
    /// Most subscriptions one session may hold.
    pub max_subscriptions: Option<usize>,
    /// Most sessions this node holds.
    pub max_sessions: Option<usize>,
    /// Handshakes per second from one remote address (0: no limit).
    pub max_handshake_rate: Option<u32>,
    /// Bind each session to its browser's cookie.
    pub bind_sessions: Option<bool>,
    /// Handshakes per second past which returning clients are spread out (0: never).
    pub handshake_surge: Option<u32>,
    /// The longest a storm's client is told to wait, in ms.
    pub surge_spread: Option<u64>,
    /// Connection types to offer.
    pub transports: Option<Vec<super::ConnectionType>>,
    /// Origins allowed to make cross-origin requests.
    pub allowed_origins: Option<Vec<String>>,
    /// Long-polls one browser may hold at once.
    pub max_polls_per_browser: Option<usize>,
    /// Accept publishes without a clientId.
    pub anonymous_publish: Option<bool>,
    /// Serve the demo page at `/`.
    pub demo: Option<bool>,
    /// Log filter.
    pub log: Option<String>,
    /// Keys that open the backend API, given as a flag or in the environment (the file's
    /// own are `[api] keys`); they replace the file's.
    #[serde(skip)]
    pub api_keys: Option<Vec<Secret>>,
    /// CometD's extensions.
    #[serde(default)]
    pub extensions: ExtensionsSection,
    /// Sign-in at handshake.
    pub sign_in: Option<SignInSection>,
    /// Channel rules, first covering rule decides.
    #[serde(default)]
    pub channels: Vec<ChannelRuleSection>,
    /// The backend API.
    pub api: Option<ApiSection>,
    /// The admin page.
    pub admin: Option<AdminSection>,
    /// Webhooks.
    pub webhooks: Option<WebhooksSection>,
    /// Presence events.
    #[serde(default)]
    pub presence: PresenceSection,
}

/// `[extensions]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionsSection {
    /// The `ack` extension.
    pub ack: Option<bool>,
    /// The `timesync` extension.
    pub timesync: Option<bool>,
    /// The `timestamp` extension.
    pub timestamp: Option<bool>,
}

/// `[sign_in]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSection {
    /// Clients without a credential may handshake, as nobody (default: false).
    #[serde(default)]
    pub anonymous: bool,
    /// A cookie that may carry the token, besides `ext.token` and `Authorization`.
    pub cookie: Option<String>,
    /// Signed tokens.
    pub jwt: Option<Spanned<JwtSection>>,
    /// Sign-in by the application's backend.
    pub backend: Option<Spanned<BackendSection>>,
}

/// `[sign_in.jwt]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    /// `HS256`, `RS256` or `ES256`.
    pub algorithm: Spanned<String>,
    /// The HS256 secret.
    pub secret: Option<Spanned<Secret>>,
    /// A file holding the HS256 secret.
    pub secret_file: Option<Spanned<String>>,
    /// A PEM file with the RS256 or ES256 public key.
    pub public_key_file: Option<Spanned<String>>,
    /// A JWKS file; the token's `kid` picks the key.
    pub jwks_file: Option<Spanned<String>>,
    /// The `iss` a token must carry.
    pub issuer: Option<String>,
    /// The `aud` a token must carry.
    pub audience: Option<String>,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    #[serde(default)]
    pub leeway: u64,
}

/// `[sign_in.backend]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// Where the handshake is POSTed.
    pub url: Spanned<String>,
    /// How long to wait for the answer, in ms (default 2000).
    pub timeout: Option<u64>,
    /// Request headers passed on.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Cookies passed on.
    #[serde(default)]
    pub cookies: Vec<String>,
}

/// Who may do something on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Who {
    /// Every client, signed in or not.
    Anyone,
    /// Signed-in users.
    Users,
    /// Users whose token (or sign-in answer) names the channel.
    Token,
    /// The user the channel's name carries (`{user}` in the pattern).
    Owner,
    /// No client: only the backend API and the server itself.
    Backend,
}

/// One `[[channels]]` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRuleSection {
    /// The channels it covers; `{user}` stands for one segment naming a user.
    pub pattern: Spanned<String>,
    /// Who may subscribe (default: anyone).
    pub subscribe: Option<Who>,
    /// Who may publish (default: anyone).
    pub publish: Option<Who>,
    /// Announce who joins and leaves (default: false).
    #[serde(default)]
    pub presence: bool,
}

/// `[api]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// The keys that open the API.
    #[serde(default)]
    pub keys: Vec<Spanned<Secret>>,
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// The password that opens `/admin`.
    pub password: Secret,
}

/// `[webhooks]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    /// Where requests are POSTed.
    pub url: Spanned<String>,
    /// How long to wait for an answer, in ms (default 2000).
    pub timeout: Option<u64>,
    /// Sent as `Authorization: Bearer`, so the backend knows the request is herald's.
    pub secret: Option<Secret>,
    /// `/service` channels answered by the backend.
    #[serde(default)]
    pub services: Vec<Spanned<String>>,
    /// Channels whose publishes the backend sees first.
    #[serde(default)]
    pub publish: Vec<Spanned<String>>,
}

/// `[presence]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceSection {
    /// Where join and leave events go: `<prefix><channel>` (default `/presence`).
    pub prefix: Option<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> ConfigError {
        parse(text.into(), PathBuf::new()).unwrap_err()
    }

    #[test]
    fn errors_name_the_line_and_never_the_value() {
        let found = error("timeout = 5\n\n[api]\nkeys = [\"ok\", 12345]\n");
        assert_eq!((found.line, found.column), (4, 15));
        assert!(!found.message.contains("12345"), "{found}");
        let found = error("path = \"/x\"\ntimeout = \"hunter2\"\n");
        assert_eq!(found.line, 2);
        assert!(!found.to_string().contains("hunter2"), "{found}");
        assert!(found.message.contains("expected u64"), "{found}");
        assert!(error("bogus = 1\n")
            .message
            .contains("unknown field `bogus`"));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let (file, _) = parse("[api]\nkeys = [\"hunter2\"]\n".into(), PathBuf::new()).unwrap();
        assert!(!format!("{file:?}").contains("hunter2"));
    }
}
