//! The backend API (API-1 to API-6): JSON over HTTP under `/api`, opened by an API key in
//! `Authorization: Bearer` (or `X-Api-Key`). The application publishes to a channel or a
//! user, reads channels and presence, and disconnects users or sessions.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;

use super::presence::Presence;
use crate::config::file::Secret;
use crate::protocol::ChannelPattern;
use crate::Herald;

/// The most messages one publish request may carry.
pub const MAX_BATCH: usize = 1_000;

/// What the API's handlers share.
#[derive(Clone)]
struct Api {
    herald: Herald,
    presence: Option<Arc<Presence>>,
    keys: Arc<[Secret]>,
}

/// An error answer: a status and `{"error": "…"}`.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(message: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, message.into())
}

/// The API's routes, under `/api`.
pub fn routes(herald: Herald, presence: Option<Arc<Presence>>, keys: Vec<Secret>) -> Router {
    let api = Api {
        herald,
        presence,
        keys: keys.into(),
    };
    Router::new()
        .route("/api/publish", post(publish))
        .route("/api/channels", get(channels))
        .route("/api/presence", get(presence_of))
        .route("/api/disconnect", post(disconnect))
        .layer(middleware::from_fn_with_state(api.clone(), authenticate))
        .with_state(api)
}

/// Lets through requests with a known key; compares in constant time, and never logs or
/// echoes what was sent.
async fn authenticate(State(api): State<Api>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
    let known = presented.is_some_and(|presented| {
        api.keys
            .iter()
            .any(|key| bool::from(key.expose().as_bytes().ct_eq(presented.as_bytes())))
    });
    if !known {
        let mut response = Failure(
            StatusCode::UNAUTHORIZED,
            "missing or unknown API key".into(),
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Bearer".parse().expect("a header value"),
        );
        return response;
    }
    next.run(request).await
}

/// JSON from a body, or a 400 that says what is wrong with it.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|error| bad(format!("invalid JSON body: {error}")))
}

/// One message to publish: to a channel's subscribers, or to one user's sessions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Publication {
    channel: String,
    data: Box<RawValue>,
    user: Option<String>,
}

/// `POST /api/publish`: one message or an array; answers how many sessions each reached.
async fn publish(State(api): State<Api>, body: Bytes) -> Result<Response, Failure> {
    let send = |message: &Publication| {
        let reached = match &message.user {
            Some(user) => api
                .herald
                .publish_to_user(user, &message.channel, &message.data),
            None => api.herald.publish(&message.channel, &message.data),
        };
        reached.map_err(|error| bad(format!("{}: {error}", message.channel)))
    };
    // One message, or an array of them (told apart by the first byte, as serde's untagged
    // enums cannot hold raw JSON).
    if body.trim_ascii_start().first() != Some(&b'[') {
        let message: Publication = parse(&body)?;
        return Ok(Json(json!({ "reached": send(&message)? })).into_response());
    }
    match parse::<Vec<Publication>>(&body)? {
        messages if messages.len() > MAX_BATCH => Err(Failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {MAX_BATCH} messages per request"),
        )),
        messages => {
            // Every message is checked before any is sent: a batch goes whole or not at all.
            for message in &messages {
                check_channel(&message.channel)?;
            }
            let mut results = Vec::with_capacity(messages.len());
            for message in &messages {
                results.push(json!({ "reached": send(message)? }));
            }
            Ok(Json(results).into_response())
        }
    }
}

fn check_channel(channel: &str) -> Result<(), Failure> {
    match ChannelPattern::parse(channel).map(ChannelPattern::into_name) {
        Some(Ok(_)) => Ok(()),
        _ => Err(bad(format!("{channel}: not a channel name"))),
    }
}

/// `GET /api/channels`: every channel or pattern with subscribers, and how many.
async fn channels(State(api): State<Api>) -> Json<serde_json::Value> {
    let channels: Vec<_> = api
        .herald
        .subscription_counts()
        .into_iter()
        .map(|(channel, subscribers)| json!({ "channel": channel, "subscribers": subscribers }))
        .collect();
    Json(json!({ "channels": channels }))
}

#[derive(Deserialize)]
struct ChannelQuery {
    channel: String,
}

/// `GET /api/presence?channel=…`: the users on a channel with presence, each once.
async fn presence_of(
    State(api): State<Api>,
    query: Result<Query<ChannelQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    let Query(query) = query.map_err(|_| bad("give the channel: ?channel=/a/b"))?;
    check_channel(&query.channel)?;
    let pattern = ChannelPattern::parse(&query.channel).expect("checked");
    let users = api
        .presence
        .as_ref()
        .and_then(|presence| presence.users(&pattern))
        .ok_or_else(|| {
            Failure(
                StatusCode::NOT_FOUND,
                format!("{}: no presence on this channel", query.channel),
            )
        })?;
    Ok(Json(json!({ "channel": query.channel, "users": users })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Disconnect {
    user: Option<String>,
    session: Option<String>,
}

/// `POST /api/disconnect`: `{"user": …}` or `{"session": …}`; answers how many ended.
async fn disconnect(State(api): State<Api>, body: Bytes) -> Result<Response, Failure> {
    let disconnected = match parse::<Disconnect>(&body)? {
        Disconnect {
            user: Some(user),
            session: None,
        } => api.herald.disconnect_user(&user),
        Disconnect {
            user: None,
            session: Some(session),
        } => usize::from(api.herald.disconnect_session(&session)),
        _ => return Err(bad("give either `user` or `session`")),
    };
    Ok(Json(json!({ "disconnected": disconnected })).into_response())
}
