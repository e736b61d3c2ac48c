//! EventSource (Faye's `eventsource`): `GET <path>/<clientId>` with
//! `Accept: text/event-stream` streams the session's messages as `data: [json]` events;
//! the client sends its messages, connects included, by POST (TR-4).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};

use super::TransportError;
use crate::bayeux::{Bayeux, EventStream};
use crate::request::RequestInfo;

/// How long the browser waits before reopening a dropped stream.
const RETRY: Duration = Duration::from_millis(5_000);

/// Whether the request asks for an event stream.
pub fn is_request(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"))
}

/// The stream for the session named by the path's last segment: one event per wake with
/// everything queued, as one JSON array. It ends when a newer stream takes over, the
/// session ends, or the server shuts down (CN-8: the browser reconnects elsewhere);
/// dropped (the browser went away), it gives the session's messages back to its next
/// connect. A session with acknowledged delivery gets keep-alives only (ACK-1).
pub fn stream(
    bayeux: &Arc<Bayeux>,
    path: &str,
    request: &RequestInfo,
) -> Result<Response, TransportError> {
    let client_id = path.rsplit('/').next().unwrap_or_default();
    let stream = bayeux
        .event_stream(client_id, request)
        .ok_or(TransportError::BadRequest("unknown client"))?;
    let traffic = Arc::clone(bayeux.traffic());
    let pushes = match stream {
        EventStream::Push(push) => stream::unfold(push, move |mut push| {
            let traffic = Arc::clone(&traffic);
            async move {
                let json = push.next_json().await?;
                traffic.sent(json.len());
                let event = Event::default().data(String::from_utf8_lossy(&json));
                Some((Ok::<_, Infallible>(event), push))
            }
        })
        .boxed(),
        EventStream::Quiet => stream::pending().boxed(),
    };
    let stopping = Arc::clone(bayeux);
    let events = stream::once(async { Ok(Event::default().retry(RETRY)) })
        .chain(pushes)
        .take_until(async move { stopping.shutting_down().await });
    let keep_alive = KeepAlive::new().interval(bayeux.config().keep_alive);
    Ok((
        [(header::CACHE_CONTROL, "no-cache, no-store")],
        Sse::new(events).keep_alive(keep_alive),
    )
        .into_response())
}
