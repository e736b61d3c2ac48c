//! The admin page (ADM-1 to ADM-3): `/admin`, opened by the password from the
//! configuration. The page signs in once and gets a cookie; it then reads `/admin/stats`
//! every second (sessions by link, channels with subscribers, counters, limits hit) and may
//! publish a test message through `/admin/publish`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use crate::config::file::Secret;
use crate::session::Link;
use crate::Herald;

/// The page: plain HTML, CSS and JavaScript, no framework, nothing fetched from elsewhere.
const PAGE: &str = include_str!("admin.html");

/// The cookie that carries a signed-in page's token.
const COOKIE: &str = "herald_admin";

/// How long a sign-in lasts.
const SIGN_IN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The most sign-ins kept at once; the oldest goes first past it.
const MAX_SIGN_INS: usize = 64;

/// How long a wrong password waits for its answer, so guessing is slow.
const WRONG_PASSWORD_DELAY: Duration = Duration::from_secs(1);

/// The channels the page lists, those with the most subscribers first.
const CHANNELS_LISTED: usize = 100;

#[derive(Clone)]
struct Admin {
    herald: Herald,
    password: Arc<Secret>,
    /// Sign-in tokens and when each ends.
    signed_in: Arc<Mutex<HashMap<String, Instant>>>,
    started: Instant,
}

/// The admin routes, under `/admin`.
pub fn routes(herald: Herald, password: Secret) -> Router {
    let admin = Admin {
        herald,
        password: Arc::new(password),
        signed_in: Arc::default(),
        started: Instant::now(),
    };
    let guarded = Router::new()
        .route("/admin/stats", get(stats))
        .route("/admin/publish", post(publish))
        .layer(middleware::from_fn_with_state(admin.clone(), signed_in));
    Router::new()
        .route("/admin", get(|| async { Html(PAGE) }))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .merge(guarded)
        .with_state(admin)
}

fn token_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, token)| token)
}

/// Lets through requests whose cookie names a live sign-in.
async fn signed_in(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    let now = Instant::now();
    let live = token_of(request.headers()).is_some_and(|token| {
        let mut signed_in = admin.signed_in.lock();
        signed_in.retain(|_, until| *until > now);
        signed_in.contains_key(token)
    });
    if live {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, Json(json!({"error": "sign in"}))).into_response()
    }
}

#[derive(Deserialize)]
struct Login {
    password: String,
}

/// Compares in constant time; a wrong password waits a second and is never logged.
async fn login(State(admin): State<Admin>, Json(login): Json<Login>) -> Response {
    let expected = admin.password.expose().as_bytes();
    if !bool::from(expected.ct_eq(login.password.as_bytes())) {
        tokio::time::sleep(WRONG_PASSWORD_DELAY).await;
        tracing::info!("admin page: wrong password");
        let error = Json(json!({"error": "wrong password"}));
        return (StatusCode::UNAUTHORIZED, error).into_response();
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    {
        let mut signed_in = admin.signed_in.lock();
        if signed_in.len() >= MAX_SIGN_INS {
            let oldest = signed_in
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(token, _)| token.clone());
            if let Some(oldest) = oldest {
                signed_in.remove(&oldest);
            }
        }
        signed_in.insert(token.clone(), Instant::now() + SIGN_IN_LIFETIME);
    }
    let cookie = format!(
        "{COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}",
        SIGN_IN_LIFETIME.as_secs()
    );
    cookie_response(cookie)
}

async fn logout(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if let Some(token) = token_of(&headers) {
        admin.signed_in.lock().remove(token);
    }
    cookie_response(format!(
        "{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
}

fn cookie_response(cookie: String) -> Response {
    let mut response = Json(json!({"ok": true})).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Everything the page shows, as counters since start; the page turns them into rates.
async fn stats(State(admin): State<Admin>) -> Json<Value> {
    let herald = &admin.herald;
    let census = herald.census();
    let sessions: serde_json::Map<_, _> = Link::ALL
        .into_iter()
        .map(|link| (link.name().to_owned(), json!(census.by(link))))
        .collect();
    let mut channels = herald.subscription_counts();
    let channel_count = channels.len();
    channels.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    channels.truncate(CHANNELS_LISTED);
    let traffic = herald.traffic();
    let limits: serde_json::Map<_, _> = traffic
        .limits()
        .map(|(limit, hits)| (limit.name().to_owned(), json!(hits)))
        .collect();
    Json(json!({
        "uptime_ms": u64::try_from(admin.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "sessions": sessions,
        "session_count": herald.session_count(),
        "queued_messages": census.queued_messages,
        "queued_bytes": census.queued_bytes,
        "channels": channels.iter().map(|(name, n)| json!({"channel": name, "subscribers": n})).collect::<Vec<_>>(),
        "channel_count": channel_count,
        "published": traffic.published_count(),
        "delivered": traffic.delivered_count(),
        "messages_in": traffic.messages_in(),
        "bytes_in": traffic.bytes_in(),
        "bytes_out": traffic.bytes_out(),
        "limits": limits,
    }))
}

#[derive(Deserialize)]
struct TestMessage {
    channel: String,
    data: Box<RawValue>,
}

/// Publishes a test message as the server (any broadcast channel, whatever the rules).
async fn publish(State(admin): State<Admin>, Json(message): Json<TestMessage>) -> Response {
    match admin.herald.publish(&message.channel, &message.data) {
        Ok(reached) => Json(json!({"reached": reached})).into_response(),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": error.to_string()})),
        )
            .into_response(),
    }
}
