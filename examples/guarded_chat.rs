//! A chat that only signed-in users may use, wired with herald's hooks:
//!
//! - a security policy: a handshake must carry a known token in `ext.auth.token` (the user
//!   it names is kept on the session); only `admin` may subscribe to `/admin/**`; nobody may
//!   bring a channel under `/archive/**` into use;
//! - an authorizer: `/announcements/**` is read-only for clients (the server publishes
//!   there);
//! - an extension, moderation: banned words in `/chat/**` are masked, texts over 200
//!   characters are refused, messages marked as spam are dropped;
//! - a listener, presence: who is online, announced on `/presence` as users come and go;
//! - a server-side session: a bot on `/chat/*` that answers `!ping` with `pong`.
//!
//! Run it with `cargo run --release --example guarded_chat -- 127.0.0.1:8083`; a client
//! handshakes with `{"ext":{"auth":{"token":"alice-token"}}}` (tokens below). The browser
//! and Node tests in `conformance/examples/` drive it with the real CometD and Faye clients.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use herald::extension::{Extension, Incoming, Verdict};
use herald::protocol::{BayeuxError, ChannelPattern, Message};
use herald::security::{Grant, Operation};
use herald::{BoxFuture, EndReason, Herald, Listener, RequestInfo, SecurityPolicy, ServerSession};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Demo tokens and the users they sign in. A real application checks a signed token, or
/// asks its user service (the policy is asynchronous for that).
const TOKENS: [(&str, &str); 3] = [
    ("alice-token", "alice"),
    ("bob-token", "bob"),
    ("admin-token", "admin"),
];

/// The signed-in user, kept on the session by the policy.
#[derive(Clone, Debug, PartialEq)]
struct User(String);

struct TokenPolicy;

fn answer(allowed: bool) -> BoxFuture<'static, bool> {
    Box::pin(async move { allowed })
}

impl SecurityPolicy for TokenPolicy {
    fn can_handshake<'a>(
        &'a self,
        session: &'a ServerSession,
        message: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        if session.is_local() {
            return answer(true);
        }
        let token = message
            .ext()
            .and_then(|ext| ext.get("auth")?.get("token")?.as_str());
        let user = TOKENS.iter().find(|(known, _)| Some(*known) == token);
        if let Some((_, user)) = user {
            session.set_attribute(User((*user).to_owned()));
        }
        answer(user.is_some())
    }

    fn can_create<'a>(
        &'a self,
        _: Option<&'a ServerSession>,
        channel: &'a ChannelPattern,
        _: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        answer(!channel.as_str().starts_with("/archive/"))
    }

    fn can_subscribe<'a>(
        &'a self,
        session: &'a ServerSession,
        channel: &'a ChannelPattern,
        _: &'a Message,
        _: &'a RequestInfo,
    ) -> BoxFuture<'a, bool> {
        let admin = session.attribute::<User>() == Some(User("admin".into()));
        answer(admin || !channel.as_str().starts_with("/admin/"))
    }
}

/// Masks banned words, refuses long texts and drops spam, on `/chat/**`.
struct Moderation;

const BANNED: [&str; 2] = ["darn", "heck"];
const MAX_TEXT: usize = 200;

impl Extension for Moderation {
    fn incoming(&self, message: &mut Message, _: &Incoming<'_>) -> Verdict {
        if !message.channel().as_str().starts_with("/chat/") {
            return Verdict::Pass;
        }
        let Some(mut data) = message
            .data()
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        else {
            return Verdict::Pass;
        };
        if data["spam"] == true {
            return Verdict::Drop;
        }
        let Some(text) = data["text"].as_str() else {
            return Verdict::Pass;
        };
        if text.chars().count() > MAX_TEXT {
            let limit = MAX_TEXT.to_string();
            return Verdict::Reject(BayeuxError::application(413, [limit], "Text too long"));
        }
        let masked = BANNED.iter().fold(text.to_owned(), |text, word| {
            text.replace(word, &"*".repeat(word.len()))
        });
        if masked != text {
            data["text"] = masked.into();
            let raw = serde_json::value::to_raw_value(&data).expect("JSON serializes");
            message.set_data(raw);
        }
        Verdict::Pass
    }
}

/// Comings and goings, handed to the task that announces them: a listener is called where
/// the event happens and should not wait on anything.
enum Presence {
    Joined(String),
    Left(String),
}

struct PresenceListener(mpsc::UnboundedSender<Presence>);

impl Listener for PresenceListener {
    fn session_added(&self, session: &ServerSession, _: &RequestInfo) {
        if let Some(User(user)) = session.attribute() {
            let _ = self.0.send(Presence::Joined(user));
        }
    }

    fn session_removed(&self, session: &ServerSession, _: EndReason) {
        if let Some(User(user)) = session.attribute() {
            let _ = self.0.send(Presence::Left(user));
        }
    }
}

/// Announces on `/presence` who joined or left and who is online (a user with two tabs
/// counts once).
async fn announce_presence(herald: Herald, mut events: mpsc::UnboundedReceiver<Presence>) {
    let mut online: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(event) = events.recv().await {
        let (user, what) = match event {
            Presence::Joined(user) => {
                *online.entry(user.clone()).or_default() += 1;
                (user, "join")
            }
            Presence::Left(user) => {
                if let Some(sessions) = online.get_mut(&user) {
                    *sessions -= 1;
                    if *sessions == 0 {
                        online.remove(&user);
                    }
                }
                (user, "leave")
            }
        };
        let names: Vec<&String> = online.keys().collect();
        let data = json!({ "user": user, "event": what, "online": names });
        let raw = serde_json::value::to_raw_value(&data).expect("JSON serializes");
        if let Err(error) = herald.publish("/presence", &raw) {
            eprintln!("cannot announce presence: {error}");
        }
    }
}

/// Answers `!ping` with `pong` on the channel it came from.
async fn run_bot(herald: Herald) -> Result<(), BayeuxError> {
    let mut bot = herald.local_session().await?;
    bot.subscribe("/chat/*").await?;
    while let Some(event) = bot.recv().await {
        let data: Value = serde_json::from_str(event.data_json()).unwrap_or_default();
        if data["text"] == "!ping" {
            let pong = json!({ "user": "bot", "text": "pong" });
            bot.publish(event.channel().as_str(), &pong).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8083".into())
        .parse()
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let (presence, events) = mpsc::unbounded_channel();
    let announcements = ChannelPattern::parse("/announcements/**").expect("a valid pattern");
    let herald = Herald::builder()
        .security_policy(TokenPolicy)
        .authorizer(
            announcements,
            Grant(&[Operation::Create, Operation::Subscribe]),
        )
        .extension(Moderation)
        .listener(PresenceListener(presence))
        .build();
    tokio::spawn(announce_presence(herald.clone(), events));
    let bot = herald.clone();
    tokio::spawn(async move {
        if let Err(error) = run_bot(bot).await {
            eprintln!("the bot stopped: {error}");
        }
    });
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("guarded chat on http://{}/cometd", listener.local_addr()?);
    let stopping = herald.clone();
    herald::server::serve(listener, herald.router(), async move {
        let _ = tokio::signal::ctrl_c().await;
        stopping.shutdown();
    })
    .await
}
