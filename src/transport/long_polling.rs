//! HTTP long-polling: `POST <path>` with the messages as a JSON body, or as the `message`
//! field of a form (HTTP-2), which is also how Faye's cross-origin long-polling posts; the
//! response is the JSON array (HTTP-3).

use std::borrow::Cow;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::bayeux::Bayeux;
use crate::error::TransportError;

/// Answers a POST on the endpoint.
pub async fn handle(
    bayeux: &Bayeux,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, TransportError> {
    let limit = bayeux.config().max_body_bytes;
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
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
    let json = messages_json(&body)?;
    let (body, cookie) = super::exchange(bayeux, &json, headers).await?;
    Ok(super::reply("application/json;charset=UTF-8", cookie, body))
}

/// The JSON text of the messages: the body itself, or its form field `message` when the
/// body does not start like JSON (HTTP-2), whatever the `Content-Type` says.
fn messages_json(body: &[u8]) -> Result<Cow<'_, [u8]>, TransportError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'[' | b'{')) {
        return Ok(Cow::Borrowed(body));
    }
    form_urlencoded::parse(body)
        .find(|(key, _)| key == "message")
        .map(|(_, value)| Cow::Owned(value.into_owned().into_bytes()))
        .ok_or(TransportError::BadRequest("no message field in the form"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_or_form() {
        assert_eq!(&*messages_json(b" [{}]").unwrap(), b" [{}]");
        assert_eq!(
            &*messages_json(b"a=1&message=%5B%7B%7D%5D").unwrap(),
            b"[{}]"
        );
        assert!(messages_json(b"a=1").is_err());
    }
}
