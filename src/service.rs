//! Server-side handlers for `/service/**` channels (SVC-1, SVC-2).
//!
//! A service message never reaches subscribers: it goes to the handler registered for its
//! exact channel, whose answer (if any) becomes the `data` of the reply to the sender.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::protocol::ChannelName;
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

/// A handler: gets the request, may answer with JSON for the sender.
pub type ServiceHandler =
    Arc<dyn Fn(&ServiceRequest<'_>) -> Option<Box<RawValue>> + Send + Sync + 'static>;

/// The handlers, by channel; fixed once the server runs.
#[derive(Clone, Default)]
pub struct Services {
    handlers: HashMap<ChannelName, ServiceHandler>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.handlers.keys()).finish()
    }
}

impl Services {
    /// Registers `handler` for `channel`, replacing any earlier one.
    pub fn insert(&mut self, channel: ChannelName, handler: ServiceHandler) {
        self.handlers.insert(channel, handler);
    }

    /// Calls the handler for the request's channel; `None` when there is none or it gave
    /// no answer.
    pub fn call(&self, request: &ServiceRequest<'_>) -> Option<Box<RawValue>> {
        self.handlers.get(request.channel)?(request)
    }
}

/// The demo service `/service/echo`: answers with the request's data.
pub fn echo() -> ServiceHandler {
    Arc::new(|request| Some(request.data.to_owned()))
}
