//! EventSource (Faye's `eventsource`): `GET <path>/<clientId>` with
//! `Accept: text/event-stream` streams the session's messages as `data: [json]` events;
//! the client sends its messages, connects included, by POST (TR-4).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};

use crate::bayeux::{json_array, Bayeux};
use crate::error::TransportError;
use crate::session::{Session, StreamKind, StreamTicket, Wake};

/// How long the browser waits before reopening a dropped stream.
const RETRY: Duration = Duration::from_millis(5_000);

/// Whether the request asks for an event stream.
pub fn is_request(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"))
}

/// The stream for the session named by the path's last segment.
pub fn stream(bayeux: &Arc<Bayeux>, path: &str) -> Result<Response, TransportError> {
    let client_id = path.rsplit('/').next().unwrap_or_default();
    let session = bayeux
        .engine()
        .session(client_id)
        .ok_or(TransportError::BadRequest("unknown client"))?;
    let attachment = Attachment::new(session);
    let events = stream::once(async { Ok(Event::default().retry(RETRY)) })
        .chain(pushes(Arc::clone(bayeux), attachment));
    let keep_alive = KeepAlive::new().interval(bayeux.config().keep_alive);
    Ok((
        [(header::CACHE_CONTROL, "no-cache, no-store")],
        Sse::new(events).keep_alive(keep_alive),
    )
        .into_response())
}

/// The stream's claim on its session, given up when the stream is dropped (the browser
/// went away): the session's messages then wait for the next connect.
struct Attachment {
    session: Arc<Session>,
    ticket: StreamTicket,
}

impl Attachment {
    fn new(session: Arc<Session>) -> Self {
        let ticket = session.attach_stream(StreamKind::Downstream);
        Self { session, ticket }
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.session.detach_stream(self.ticket);
    }
}

/// One event per wake: everything queued, as one JSON array. Ends when the stream is
/// superseded, the session ends, or the server shuts down.
fn pushes(
    bayeux: Arc<Bayeux>,
    attachment: Attachment,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((bayeux, attachment), |(bayeux, attachment)| async move {
        loop {
            let wake = tokio::select! {
                wake = attachment.session.wait_stream(attachment.ticket) => wake,
                _ = bayeux.shutting_down() => return None,
            };
            if wake != Wake::Messages {
                return None;
            }
            let events = attachment.session.drain_for_stream(attachment.ticket);
            if events.is_empty() {
                continue;
            }
            let json = json_array(events.iter());
            let event = Event::default().data(String::from_utf8_lossy(&json));
            return Some((Ok(event), (bayeux, attachment)));
        }
    })
}
