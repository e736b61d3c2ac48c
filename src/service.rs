//! Server-side handlers for `/service/**` channels (SVC-1, SVC-2).
//!
//! A service message never reaches subscribers: it goes to the service registered for its
//! channel (an exact name first, else the first pattern that covers it), whose answer (if
//! any) becomes the `data` of the reply to the sender. Services are asynchronous, so one
//! may ask another system (a webhook does) without holding anything up but its sender.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::{self, BoxFuture};
use futures_util::FutureExt;
use serde_json::value::RawValue;

use crate::protocol::{BayeuxError, ChannelName, ChannelPattern};
use crate::session::ServerSession;

/// A request to a service.
#[derive(Debug)]
pub struct ServiceRequest<'a> {
    /// The service channel.
    pub channel: &'a ChannelName,
    /// The sender's client id (empty for an anonymous publish).
    pub client_id: &'a str,
    /// The sender's session, with its attributes (none for an anonymous publish).
    pub session: Option<&'a ServerSession>,
    /// The request's `data`, as raw JSON.
    pub data: &'a RawValue,
}

/// What a service answers: JSON for the sender (or nothing), or an error for the sender's
/// reply.
pub type ServiceAnswer = Result<Option<Box<RawValue>>, BayeuxError>;

/// A service. A plain function or closure from a request to an optional JSON answer is
/// one; implement the trait to answer asynchronously or with an error.
pub trait Service: Send + Sync + 'static {
    /// Answers `request`.
    fn call<'a>(&'a self, request: &'a ServiceRequest<'a>) -> BoxFuture<'a, ServiceAnswer>;
}

impl<F> Service for F
where
    F: Fn(&ServiceRequest<'_>) -> Option<Box<RawValue>> + Send + Sync + 'static,
{
    fn call<'a>(&'a self, request: &'a ServiceRequest<'a>) -> BoxFuture<'a, ServiceAnswer> {
        future::ready(Ok(self(request))).boxed()
    }
}

/// The services, by channel; fixed once the server runs.
#[derive(Clone, Default)]
pub struct Services {
    exact: HashMap<ChannelName, Arc<dyn Service>>,
    patterns: Vec<(ChannelPattern, Arc<dyn Service>)>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.exact.keys().map(ChannelName::as_str))
            .entries(self.patterns.iter().map(|(pattern, _)| pattern.as_str()))
            .finish()
    }
}

impl Services {
    /// Registers `service` for `channel` (a name, or a pattern such as `/service/**`),
    /// replacing an earlier service for the same name; patterns are tried in the order
    /// they were added, after exact names.
    pub fn insert(&mut self, channel: ChannelPattern, service: Arc<dyn Service>) {
        match channel.into_name() {
            Ok(name) => {
                self.exact.insert(name, service);
            }
            Err(pattern) => self.patterns.push((pattern, service)),
        }
    }

    /// Calls the service for the request's channel; `Ok(None)` when there is none or it
    /// gave no answer.
    pub async fn call(&self, request: &ServiceRequest<'_>) -> ServiceAnswer {
        let service = self.exact.get(request.channel).or_else(|| {
            self.patterns
                .iter()
                .find(|(pattern, _)| pattern.matches(request.channel))
                .map(|(_, service)| service)
        });
        match service {
            Some(service) => service.call(request).await,
            None => Ok(None),
        }
    }
}

/// The demo service `/service/echo`: answers with the request's data.
pub fn echo(request: &ServiceRequest<'_>) -> Option<Box<RawValue>> {
    Some(request.data.to_owned())
}
