//! Protocol errors: what a reply with `successful:false` says, and the advice it carries.
//!
//! Each variant's `Display` is the Bayeux `code:args:message` string of the reply (ERR-4),
//! built here and nowhere else. Transport failures (a body that is not JSON, a frame that is
//! not text) are not protocol errors: they live with the transports.

use thiserror::Error;

use super::reply::Advice;

/// A message the server refuses; the reply says why with `successful:false`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
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
    /// The security policy refused the handshake (SEC-1; CometD's string).
    #[error("403::handshake_denied")]
    HandshakeDenied,
    /// The security policy or an authorizer refused to create a channel, with the reason.
    #[error("403:{}:create_denied", arg(.0))]
    CreateDenied(String),
    /// The security policy or an authorizer refused to bring a channel into use by a
    /// publish, with the reason (CometD's string differs from the subscribe case).
    #[error("403:{}:channel_create_denied", arg(.0))]
    ChannelCreateDenied(String),
    /// The security policy or an authorizer refused a subscription, with the reason.
    #[error("403:{}:subscribe_denied", arg(.0))]
    SubscribeDenied(String),
    /// The security policy or an authorizer refused a publish, with the reason.
    #[error("403:{}:publish_denied", arg(.0))]
    PublishDenied(String),
    /// ERR-3.
    #[error("404:{}:Unknown channel", arg(.0))]
    UnknownMetaChannel(String),
    /// An extension dropped the message (EXT-2; CometD's string).
    #[error("404::message_deleted")]
    MessageDeleted,
    /// A name that breaks CH-1/CH-2, or a publish to a pattern.
    #[error("405:{}:Invalid channel", arg(.0))]
    InvalidChannel(String),
    /// HS-4, CN-1: the types the client named, none of which the server offers.
    #[error("406:{}:Unsupported connection type", list(.0))]
    UnsupportedConnectionType(Vec<String>),
    /// A publish's `data` nests deeper than herald passes on (LIM-10).
    #[error("400:{0}:Data nested too deeply")]
    TooDeep(usize),
    /// A session publishes faster than the publish rate limit (LIM-12).
    #[error("429:{0}:publish_rate_exceeded")]
    PublishRateExceeded(u32),
    /// One remote address handshakes faster than it may (LIM-13): come back later.
    #[error("429:{0}:handshake_rate_exceeded")]
    HandshakeRateExceeded(u32),
    /// A subscribe would take a session past its subscription limit (LIM-6).
    #[error("403:{0}:too_many_subscriptions")]
    TooManySubscriptions(usize),
    /// The node holds as many sessions as it may (LIM-7): come back later.
    #[error("503::server_full")]
    ServerFull,
    /// The backend behind a webhook did not answer in time (WH-4).
    #[error("504::webhook_timeout")]
    WebhookTimeout,
    /// The backend behind a webhook is unreachable or answered nonsense (WH-4).
    #[error("502::webhook_unavailable")]
    WebhookUnavailable,
    /// A sign-in refused the handshake (SIGN-2).
    #[error("{0}")]
    SignIn(SignInError),
    /// An application's own refusal, from an extension or a service: `code:args:message`.
    #[error("{0}")]
    Application(Box<ApplicationError>),
}

/// Why a sign-in refused a handshake. The string never repeats the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignInError {
    /// No credential where one is required.
    #[error("401::token_missing")]
    Missing,
    /// A credential that is malformed, forged, or not for this server.
    #[error("401::token_invalid")]
    Invalid,
    /// A credential past its expiry: a fresh one will do.
    #[error("401::token_expired")]
    Expired,
    /// The sign-in backend said no.
    #[error("403::handshake_denied")]
    Denied,
    /// The sign-in backend did not answer in time, or answered nonsense.
    #[error("503::sign_in_unavailable")]
    Unavailable,
}

/// An application's error: boxed in [`BayeuxError`], which stays small.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}:{}:{}", list(.args), text(.message))]
pub struct ApplicationError {
    /// A three-digit code; 400 to 499 by convention.
    pub code: u16,
    /// Arguments, each cleaned of the separators `:` and `,`.
    pub args: Vec<String>,
    /// What went wrong, for people.
    pub message: String,
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
fn list(texts: &[String]) -> String {
    texts
        .iter()
        .map(|text| arg(text))
        .collect::<Vec<_>>()
        .join(",")
}

/// The message part: bounded and on one line (it is the last part, so `:` may stay).
fn text(message: &str) -> String {
    message
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect()
}

impl BayeuxError {
    /// An application error, e.g. `BayeuxError::application(409, ["/chat/a"], "Too fast")`.
    /// A code outside 100..=999 becomes 400, so the string always starts with three digits.
    pub fn application<A: Into<String>>(
        code: u16,
        args: impl IntoIterator<Item = A>,
        message: impl Into<String>,
    ) -> Self {
        BayeuxError::Application(Box::new(ApplicationError {
            code: if (100..=999).contains(&code) {
                code
            } else {
                400
            },
            args: args.into_iter().map(Into::into).collect(),
            message: message.into(),
        }))
    }

    /// The advice the reply carries (ERR-2, HS-4, SEC-1): errors that a new handshake cures
    /// send the client back to it; a denied handshake tells it to stop, so a client without
    /// credentials does not hammer the server.
    pub fn advice(&self) -> Option<Advice> {
        match self {
            BayeuxError::UnknownClient(_) => Some(Advice::HANDSHAKE),
            BayeuxError::ServerFull | BayeuxError::HandshakeRateExceeded(_) => {
                Some(Advice::HANDSHAKE)
            }
            BayeuxError::HandshakeDenied => Some(Advice::NONE),
            BayeuxError::SignIn(SignInError::Expired | SignInError::Unavailable) => {
                Some(Advice::HANDSHAKE)
            }
            BayeuxError::SignIn(_) => Some(Advice::NONE),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_errors_say_what_to_do_next() {
        let expired = BayeuxError::SignIn(SignInError::Expired);
        assert_eq!(expired.to_string(), "401::token_expired");
        assert_eq!(expired.advice(), Some(Advice::HANDSHAKE));
        let forged = BayeuxError::SignIn(SignInError::Invalid);
        assert_eq!(forged.to_string(), "401::token_invalid");
        assert_eq!(forged.advice(), Some(Advice::NONE));
        let away = BayeuxError::SignIn(SignInError::Unavailable);
        assert_eq!(away.to_string(), "503::sign_in_unavailable");
        assert_eq!(away.advice(), Some(Advice::HANDSHAKE));
    }

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
        assert_eq!(
            BayeuxError::SubscribeDenied("denied_by_security_policy".into()).to_string(),
            "403:denied_by_security_policy:subscribe_denied"
        );
        assert_eq!(
            BayeuxError::application(7, ["a:b"], "slow down\n").to_string(),
            "400:ab:slow down"
        );
    }
}
