//! Sign-in from the configuration file (SIGN-1 to SIGN-6): a signed token, checked here, or
//! the handshake handed to the application's backend, which answers who the user is.
//!
//! The token is read from the handshake's `ext.token`, else an `Authorization: Bearer`
//! header, else the configured cookie, so browsers, scripts and WebSocket clients (which
//! cannot set headers) all have a way to present it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::backend::{Backend, BackendError};
use super::jwt::JwtVerifier;
use super::rules::Grants;
use crate::config::file::{ConfigError, SignInSection, Source};
use crate::protocol::{ChannelPattern, Message, SignInError};
use crate::request::RequestInfo;
use crate::session::ServerSession;
use crate::sign_in::SignIn;
use crate::BoxFuture;

/// How clients are signed in.
#[derive(Debug)]
pub struct ConfiguredSignIn {
    anonymous: bool,
    cookie: Option<String>,
    method: Method,
}

#[derive(Debug)]
enum Method {
    Jwt(JwtVerifier),
    Backend {
        backend: Backend,
        headers: Vec<String>,
        cookies: Vec<String>,
    },
}

/// What the sign-in backend is sent.
#[derive(Serialize)]
struct SignInRequest<'a> {
    ext: Option<&'a serde_json::Map<String, Value>>,
    headers: BTreeMap<&'a str, &'a str>,
    cookies: BTreeMap<&'a str, &'a str>,
    remote: Option<String>,
}

/// What the sign-in backend answers.
#[derive(Deserialize)]
struct SignInAnswer {
    allow: bool,
    user: Option<String>,
    subscribe: Option<Vec<String>>,
    publish: Option<Vec<String>>,
}

impl ConfiguredSignIn {
    /// The sign-in `[sign_in]` describes.
    pub fn from_file(section: &SignInSection, source: &Source) -> Result<Self, ConfigError> {
        let method = match (&section.jwt, &section.backend) {
            (Some(jwt), None) => Method::Jwt(JwtVerifier::from_file(jwt.get_ref(), source)?),
            (None, Some(backend)) => {
                let settings = backend.get_ref();
                Method::Backend {
                    backend: Backend::new(&settings.url, settings.timeout, None, source)?,
                    headers: settings.headers.clone(),
                    cookies: settings.cookies.clone(),
                }
            }
            (Some(jwt), Some(_)) => {
                return Err(source.at(jwt, "use `[sign_in.jwt]` or `[sign_in.backend]`, not both"))
            }
            (None, None) => {
                return Err(ConfigError::from(
                    "[sign_in] needs `[sign_in.jwt]` or `[sign_in.backend]`".to_owned(),
                ))
            }
        };
        Ok(Self {
            anonymous: section.anonymous,
            cookie: section.cookie.clone(),
            method,
        })
    }

    /// The token the client presented, wherever it put it.
    fn token<'a>(&self, message: &'a Message, request: &'a RequestInfo) -> Option<&'a str> {
        let from_ext = message
            .ext()
            .and_then(|ext| ext.get("token"))
            .and_then(Value::as_str);
        let bearer = || {
            request
                .header("authorization")
                .and_then(|value| value.strip_prefix("Bearer "))
        };
        let cookie = || self.cookie.as_deref().and_then(|name| request.cookie(name));
        from_ext.or_else(bearer).or_else(cookie)
    }

    async fn sign_in(
        &self,
        session: &ServerSession,
        message: &Message,
        request: &RequestInfo,
    ) -> Result<(), SignInError> {
        let (user, grants) = match &self.method {
            Method::Jwt(verifier) => match self.token(message, request) {
                None if self.anonymous => return Ok(()),
                None => return Err(SignInError::Missing),
                Some(token) => {
                    let verified = verifier.verify(token)?;
                    (verified.user, verified.grants)
                }
            },
            Method::Backend {
                backend,
                headers,
                cookies,
            } => {
                let body = SignInRequest {
                    ext: message.ext(),
                    headers: pick(headers, |name| request.header(name)),
                    cookies: pick(cookies, |name| request.cookie(name)),
                    remote: request.peer().map(|peer| peer.ip().to_string()),
                };
                let answer = match backend.post::<SignInAnswer>(&body).await {
                    Ok(Some(answer)) => answer,
                    Ok(None) => return Err(SignInError::Unavailable),
                    Err(BackendError::Refused { .. }) => return Err(SignInError::Denied),
                    Err(error) => {
                        tracing::warn!(url = backend.url(), %error, "sign-in backend failed");
                        return Err(SignInError::Unavailable);
                    }
                };
                if !answer.allow {
                    return Err(SignInError::Denied);
                }
                let Some(user) = answer.user.filter(|user| !user.is_empty()) else {
                    return match self.anonymous {
                        true => Ok(()),
                        false => Err(SignInError::Denied),
                    };
                };
                let patterns = |list: Option<Vec<String>>| {
                    list.map(|list| {
                        list.iter()
                            .filter_map(|p| ChannelPattern::parse(p))
                            .collect()
                    })
                };
                let grants = Grants {
                    subscribe: patterns(answer.subscribe),
                    publish: patterns(answer.publish),
                };
                (user, grants)
            }
        };
        session.set_user(&user);
        session.set_attribute(Arc::new(grants));
        Ok(())
    }
}

/// The named values `get` finds, by name.
fn pick<'a>(
    names: &'a [String],
    get: impl Fn(&str) -> Option<&'a str>,
) -> BTreeMap<&'a str, &'a str> {
    names
        .iter()
        .filter_map(|name| Some((name.as_str(), get(name)?)))
        .collect()
}

impl SignIn for ConfiguredSignIn {
    fn sign_in<'a>(
        &'a self,
        session: &'a ServerSession,
        message: &'a Message,
        request: &'a RequestInfo,
    ) -> BoxFuture<'a, Result<(), SignInError>> {
        Box::pin(async move {
            let result = self.sign_in(session, message, request).await;
            if let Err(error) = &result {
                tracing::debug!(%error, "sign-in refused");
            }
            result
        })
    }
}
