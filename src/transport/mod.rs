//! Transports: they turn requests into batches of Bayeux messages and responses back into
//! bytes, and nothing else. The protocol lives in [`crate::bayeux`]; a transport reaches a
//! session only through what the core hands it (a held connect, a push stream).
//!
//! One endpoint serves them all (TR-1): a WebSocket upgrade, an EventSource stream, a JSONP
//! GET, or a long-polling POST, told apart by method and headers as Faye's adapter does.

pub mod browser;
pub mod callback_polling;
pub mod cross_origin;
pub mod error;
pub mod eventsource;
pub mod long_polling;
pub mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::bayeux::{Bayeux, Connection, Inbound};
use crate::config::ConnectionType;
use crate::protocol::parse_batch;
use crate::request::RequestInfo;
pub use error::TransportError;

/// Answers any request on the Bayeux endpoint, by handing it to its transport.
///
/// The request is taken whole and split here, rather than through one extractor per part,
/// because extractors copy the headers and URI of every request, long-polls included.
pub async fn endpoint(State(bayeux): State<Arc<Bayeux>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let result = match parts.method {
        Method::GET => match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) if bayeux.offers(ConnectionType::WebSocket) => {
                let request = RequestInfo::detached(&parts.headers, peer);
                Ok(websocket::upgrade(Arc::clone(&bayeux), upgrade, request))
            }
            _ if eventsource::is_request(&parts.headers) => {
                if bayeux.offers(ConnectionType::EventSource) {
                    let request = RequestInfo::new(std::mem::take(&mut parts.headers), peer);
                    eventsource::stream(&bayeux, parts.uri.path(), &request)
                } else {
                    Err(TransportError::Disabled("eventsource"))
                }
            }
            _ if bayeux.offers(ConnectionType::CallbackPolling) => {
                let query = parts.uri.query().unwrap_or_default().to_owned();
                let request = RequestInfo::new(std::mem::take(&mut parts.headers), peer);
                // The rest of the request (its URI) is a slice of the connection's read
                // buffer: dropped now, it does not keep the buffer alive while the connect
                // is held.
                drop(parts);
                callback_polling::handle(&bayeux, &query, request).await
            }
            _ => Err(TransportError::Disabled("callback-polling")),
        },
        Method::POST => {
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
            let request = RequestInfo::new(std::mem::take(&mut parts.headers), peer);
            drop(parts);
            long_polling::handle(&bayeux, declared, request, body).await
        }
        // A preflight is answered by the CORS layer; a bare OPTIONS gets an empty 200.
        Method::OPTIONS => Ok(StatusCode::OK.into_response()),
        _ => Err(TransportError::MethodNotAllowed),
    };
    result.unwrap_or_else(|refused| {
        if let Some(limit) = refused.limit() {
            bayeux.traffic().hit(limit);
        }
        refused.into_response()
    })
}

/// One HTTP request/response exchange, shared by long-polling and JSONP: the batch is
/// processed with the request's details, the request is dropped, then its connect is held
/// if need be; a browser without a cookie gets one with its handshake (TR-8).
pub async fn exchange(
    bayeux: &Arc<Bayeux>,
    json: Bytes,
    request: RequestInfo,
) -> Result<(Bytes, Option<HeaderValue>), TransportError> {
    let batch = parse_batch(&json)?;
    bayeux.traffic().received(json.len(), batch.len());
    if batch.len() > bayeux.config().max_batch {
        return Err(TransportError::TooManyMessages(bayeux.config().max_batch));
    }
    // The messages own what they need: the body goes before anything waits.
    drop(json);
    let inbound = Inbound {
        request: &request,
        connection: Connection::Http,
    };
    let processed = bayeux.process(batch, inbound).await;
    // The request's headers are slices of the connection's read buffer: dropped now, they
    // do not keep it alive while the connect is held.
    drop(request);
    let (mut response, connect, new_browser) = processed.into_response();
    if let Some(connect) = connect {
        let (events, reply) = bayeux.complete(connect).await;
        response.set_connect(events, reply);
    }
    let cookie = new_browser.map(|browser| browser::cookie(&browser));
    let json = response.to_json();
    bayeux.traffic().sent(json.len());
    Ok((json, cookie))
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
