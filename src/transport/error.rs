//! Requests that are not Bayeux requests at all, and the HTTP status each one gets
//! (HTTP-4 to HTTP-6, TR-1), mapped in one place.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use thiserror::Error;

use crate::protocol::MalformedBatch;
use crate::traffic::Limit;

/// A request the server cannot read as Bayeux messages.
#[derive(Debug, Error)]
pub enum TransportError {
    /// The body is not JSON messages, or not a form with `message`.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The body is over the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// More messages in one request than herald takes (LIM-11).
    #[error("more than {0} messages in one request")]
    TooManyMessages(usize),
    /// The body did not arrive within the body timeout (LIM-2).
    #[error("request body not received in time")]
    RequestTimeout,
    /// A method no transport answers.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request is for a transport that is turned off (TR-1).
    #[error("the {0} transport is turned off")]
    Disabled(&'static str),
}

impl From<MalformedBatch> for TransportError {
    fn from(error: MalformedBatch) -> Self {
        TransportError::BadRequest(match error {
            MalformedBatch::Json => "malformed JSON messages",
            MalformedBatch::NotMessages => "expected a JSON object or array of objects",
        })
    }
}

impl TransportError {
    /// The limit this refusal reports, if it is one.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            TransportError::PayloadTooLarge => Some(Limit::Body),
            TransportError::TooManyMessages(_) => Some(Limit::Batch),
            TransportError::RequestTimeout => Some(Limit::BodyTimeout),
            _ => None,
        }
    }
}

impl IntoResponse for TransportError {
    fn into_response(self) -> Response {
        let status = match self {
            TransportError::BadRequest(_) | TransportError::Disabled(_) => StatusCode::BAD_REQUEST,
            TransportError::PayloadTooLarge | TransportError::TooManyMessages(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            TransportError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            TransportError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        };
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}
