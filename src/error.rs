//! Every error herald reports, and the one place where each becomes what the client sees.
//!
//! [`BayeuxError`] is a protocol failure: its `Display` is the Bayeux `code:args:message`
//! string of the reply (ERR-4), and [`BayeuxError::advice`] says what the client should do.
//! [`TransportError`] is a request the server cannot read at all: it becomes an HTTP status.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use thiserror::Error;

use crate::protocol::Advice;

/// A message the server refuses; the reply says why with `successful:false`.
#[derive(Debug, Error)]
pub enum BayeuxError {
    /// MSG-2.
    #[error("400::Missing channel")]
    MissingChannel,
    /// A required field is absent.
    #[error("400:{0}:Missing field")]
    MissingField(&'static str),
    /// A field has the wrong JSON type (MSG-4).
    #[error("400:{0}:Invalid field")]
    InvalidField(&'static str),
    /// HS-5.
    #[error("400::Handshake must be alone in its request")]
    HandshakeNotAlone,
    /// ERR-1.
    #[error("401::No client ID")]
    NoClientId,
    /// ERR-2: never issued, ended or expired.
    #[error("402:{}:Unknown client", arg(.0))]
    UnknownClient(String),
    /// A `/meta/**` channel where a client may not go (PUB-3, SUB-3).
    #[error("403:{}:Forbidden channel", arg(.0))]
    ForbiddenChannel(String),
    /// ERR-3.
    #[error("404:{}:Unknown channel", arg(.0))]
    UnknownMetaChannel(String),
    /// A name that breaks CH-1/CH-2, or a publish to a pattern.
    #[error("405:{}:Invalid channel", arg(.0))]
    InvalidChannel(String),
    /// HS-4, CN-1: the types the client named, none of which the server offers.
    #[error("406:{}:Unsupported connection type", args(.0))]
    UnsupportedConnectionType(Vec<String>),
}

/// Client text put in an error's args: bounded, and without the `:` and `,` that separate
/// the parts of the error string.
fn arg(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, ':' | ',') && !c.is_control())
        .take(128)
        .collect()
}

/// Several args, each made safe by [`arg`], joined by the `,` that separates them.
fn args(texts: &[String]) -> String {
    texts
        .iter()
        .map(|text| arg(text))
        .collect::<Vec<_>>()
        .join(",")
}

impl BayeuxError {
    /// The advice the reply carries (ERR-2, HS-4): only errors that a new handshake cures
    /// send the client back to it.
    pub fn advice(&self) -> Option<Advice> {
        match self {
            BayeuxError::UnknownClient(_) => Some(Advice::HANDSHAKE),
            _ => None,
        }
    }
}

/// A request that is not a Bayeux request at all (HTTP-4, HTTP-5, HTTP-6).
#[derive(Debug, Error)]
pub enum TransportError {
    /// The body is not JSON messages, or not a form with `message`.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The body is over the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// A method no transport answers.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request is for a transport that is turned off (TR-1).
    #[error("the {0} transport is turned off")]
    Disabled(&'static str),
}

impl IntoResponse for TransportError {
    fn into_response(self) -> Response {
        let status = match self {
            TransportError::BadRequest(_) | TransportError::Disabled(_) => StatusCode::BAD_REQUEST,
            TransportError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings() {
        assert_eq!(
            BayeuxError::MissingField("data").to_string(),
            "400:data:Missing field"
        );
        assert_eq!(
            BayeuxError::InvalidChannel("/a:b,c".into()).to_string(),
            "405:/abc:Invalid channel"
        );
        assert_eq!(
            BayeuxError::UnsupportedConnectionType(vec!["x:y".into(), "z".into()]).to_string(),
            "406:xy,z:Unsupported connection type"
        );
    }
}
