//! HTTP long-polling: `POST <path>` with the messages as a JSON body, or as the `message`
//! field of a form (HTTP-2), which is also how Faye's cross-origin long-polling posts; the
//! response is the JSON array (HTTP-3).

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

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
    let limit = bayeux.config().max_body_bytes;
    // A declared length over the limit is refused before a byte of the body is read.
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(TransportError::PayloadTooLarge);
    }
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<LengthLimitError>() {
                TransportError::PayloadTooLarge
            } else {
                TransportError::BadRequest("unreadable body")
            }
        })?
        .to_bytes();
    let json = messages_json(body)?;
    let (body, cookie) = super::exchange(bayeux, json, request).await?;
    Ok(super::reply("application/json;charset=UTF-8", cookie, body))
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
