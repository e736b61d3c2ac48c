//! HTTP long-polling: `POST <path>` with the messages as a JSON body, or as the `message`
//! field of a form (HTTP-2), which is also how Faye's cross-origin long-polling posts; the
//! response is the JSON array (HTTP-3).

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use bytes::BytesMut;
use http_body_util::BodyExt;
use std::time::Duration;

use std::sync::Arc;

use super::TransportError;
use crate::bayeux::Bayeux;
use crate::request::RequestInfo;

/// Answers a POST on the endpoint; `declared` is its `Content-Length`.
pub async fn handle(
    bayeux: &Arc<Bayeux>,
    declared: Option<u64>,
    request: RequestInfo,
    body: Body,
) -> Result<Response, TransportError> {
    let config = bayeux.config();
    let body = read_body(body, declared, config.max_body_bytes, config.body_timeout).await?;
    let json = messages_json(body)?;
    let (body, cookie) = super::exchange(bayeux, json, request).await?;
    Ok(super::reply("application/json;charset=UTF-8", cookie, body))
}

/// How much of a body over the limit is read and thrown away after the 413 is sent, and for
/// how long: a client still sending then reads its answer instead of a reset (closing a
/// connection with unread data resets it). A client that sends more, or stalls, is closed.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The body, whole, if it is at most `limit` bytes and arrives within `timeout` (HTTP-5,
/// LIM-2). Past the limit (at once when `Content-Length` says so) the answer is 413, sent
/// straight away, while the rest is read and discarded in the background (LIM-3).
async fn read_body(
    mut body: Body,
    declared: Option<u64>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, TransportError> {
    let limit = limit as u64;
    let read = async {
        if declared.is_some_and(|length| length > limit) {
            tokio::spawn(drain(body));
            return Err(TransportError::PayloadTooLarge);
        }
        // A body in one piece (the usual case) is kept as it came, without a copy.
        let mut first: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| TransportError::BadRequest("unreadable body"))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen += data.len() as u64;
            if seen > limit {
                tokio::spawn(drain(body));
                return Err(TransportError::PayloadTooLarge);
            }
            match (&mut joined, first.take()) {
                (Some(joined), _) => joined.extend_from_slice(&data),
                (None, None) => first = Some(data),
                (None, Some(earlier)) => {
                    let mut both = BytesMut::from(&earlier[..]);
                    both.extend_from_slice(&data);
                    joined = Some(both);
                }
            }
        }
        Ok(joined.map_or_else(|| first.unwrap_or_default(), BytesMut::freeze))
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| TransportError::RequestTimeout)?
}

/// Reads and discards what is left of a refused body, up to [`DRAIN_LIMIT`] bytes within
/// [`DRAIN_TIME`].
async fn drain(mut body: Body) {
    let discard = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |data| data.len() as u64);
            if seen > DRAIN_LIMIT {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// The JSON text of the messages: the body itself, or its form field `message` when the
/// body does not start like JSON (HTTP-2), whatever the `Content-Type` says.
fn messages_json(body: Bytes) -> Result<Bytes, TransportError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'[' | b'{')) {
        return Ok(body);
    }
    form_urlencoded::parse(&body)
        .find(|(key, _)| key == "message")
        .map(|(_, value)| Bytes::from(value.into_owned()))
        .ok_or(TransportError::BadRequest("no message field in the form"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_or_form() {
        let json = |body: &'static [u8]| messages_json(Bytes::from_static(body));
        assert_eq!(&json(b" [{}]").unwrap()[..], b" [{}]");
        assert_eq!(&json(b"a=1&message=%5B%7B%7D%5D").unwrap()[..], b"[{}]");
        assert!(json(b"a=1").is_err());
    }
}
