//! Transports: they turn requests into batches of Bayeux messages and responses back into
//! bytes, and nothing else. The protocol lives in [`crate::bayeux`].
//!
//! One endpoint serves them all (TR-1): a WebSocket upgrade, an EventSource stream, a JSONP
//! GET, or a long-polling POST, told apart by method and headers as Faye's adapter does.

pub mod browser;
pub mod callback_polling;
pub mod cross_origin;
pub mod eventsource;
pub mod long_polling;
pub mod websocket;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::bayeux::{Bayeux, Context};
use crate::config::ConnectionType;
use crate::error::TransportError;
use crate::protocol::Message;

/// Answers any request on the Bayeux endpoint, by handing it to its transport.
///
/// The request is taken whole and split here, rather than through one extractor per part,
/// because extractors copy the headers and URI of every request, long-polls included.
pub async fn endpoint(State(bayeux): State<Arc<Bayeux>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let result = match parts.method {
        Method::GET => match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) if bayeux.offers(ConnectionType::WebSocket) => {
                Ok(websocket::upgrade(bayeux, upgrade))
            }
            _ if eventsource::is_request(&parts.headers) => {
                if bayeux.offers(ConnectionType::EventSource) {
                    eventsource::stream(&bayeux, parts.uri.path())
                } else {
                    Err(TransportError::Disabled("eventsource"))
                }
            }
            _ if bayeux.offers(ConnectionType::CallbackPolling) => {
                let browser = browser::id(&parts.headers);
                let query = parts.uri.query().unwrap_or_default().to_owned();
                // The request's headers and URI are slices of the connection's read buffer:
                // dropped now, they do not keep it alive while the connect is held.
                drop(parts);
                callback_polling::handle(&bayeux, &query, browser).await
            }
            _ => Err(TransportError::Disabled("callback-polling")),
        },
        Method::POST => {
            let browser = browser::id(&parts.headers);
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
            drop(parts);
            long_polling::handle(&bayeux, declared, browser, body).await
        }
        // A preflight is answered by the CORS layer; a bare OPTIONS gets an empty 200.
        Method::OPTIONS => Ok(StatusCode::OK.into_response()),
        _ => Err(TransportError::MethodNotAllowed),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Reads a request's JSON text as a batch (MSG-1): one message or an array of them.
/// Anything else is not a Bayeux request at all (HTTP-4). The first byte says which, so
/// the text is parsed once.
pub fn parse_batch(json: &[u8]) -> Result<Vec<Message<'_>>, TransportError> {
    const MALFORMED: TransportError = TransportError::BadRequest("malformed JSON messages");
    let text = std::str::from_utf8(json).map_err(|_| MALFORMED)?;
    match text.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str(text).map_err(|_| MALFORMED),
        Some(b'{') => Ok(vec![serde_json::from_str(text).map_err(|_| MALFORMED)?]),
        _ => Err(TransportError::BadRequest(
            "expected a JSON object or array of objects",
        )),
    }
}

/// One HTTP request/response exchange, shared by long-polling and JSONP: the batch is
/// processed with the browser's cookie, the request's bytes are dropped, then its connect
/// is held if need be; a browser without a cookie gets one with its handshake (TR-8).
pub async fn exchange(
    bayeux: &Bayeux,
    json: Bytes,
    browser: Option<String>,
) -> Result<(Bytes, Option<HeaderValue>), TransportError> {
    let processed = {
        let batch = parse_batch(&json)?;
        let context = Context {
            websocket: false,
            browser: browser.as_deref(),
        };
        bayeux.process(&batch, context)
    };
    // Nothing borrows the request any more: a held connect keeps none of its bytes.
    drop(json);
    let response = bayeux.finish(processed).await;
    let cookie = (browser.is_none() && response.has_handshake()).then(browser::new_cookie);
    Ok((response.to_json_array(), cookie))
}

/// The headers every HTTP reply carries: replies must never be cached (HTTP-3, TR-3).
fn reply(content_type: &'static str, cookie: Option<HeaderValue>, body: Bytes) -> Response {
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache, no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches() {
        assert_eq!(parse_batch(b"[]").unwrap().len(), 0);
        assert_eq!(parse_batch(b" {\"channel\":\"/a\"} ").unwrap().len(), 1);
        assert_eq!(parse_batch(b"[{},{}]").unwrap().len(), 2);
        for bad in [&b"42"[..], b"\"x\"", b"null", b"[1]", b"[{}", b"", b"\xff"] {
            assert!(parse_batch(bad).is_err(), "{bad:?}");
        }
    }
}
