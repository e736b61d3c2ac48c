//! Webhooks (WH-1 to WH-5): `/service` requests answered by the application's backend,
//! and publishes offered to it before they are broadcast.
//!
//! The backend is sent `{"kind", "channel", "data", "user", "client_id"}` and answers with
//! `{"data": …}` (the answer, or the publish's new data), `{"error": "…"}` or a 4xx (a
//! refusal, for the sender alone), or nothing (no answer; the publish goes as it is).

use std::sync::{Arc, OnceLock, Weak};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::backend::{Backend, BackendError};
use crate::bayeux::Bayeux;
use crate::filter::{Filtered, PublishFilter};
use crate::protocol::{BayeuxError, ChannelName};
use crate::service::{Service, ServiceAnswer, ServiceRequest};
use crate::session::ServerSession;
use crate::BoxFuture;

/// The backend behind the webhooks, as a [`Service`] and a [`PublishFilter`].
#[derive(Debug, Clone)]
pub struct Webhook {
    backend: Backend,
    /// The core, to deliver a service's answer to its sender; set once the server is built.
    core: Arc<OnceLock<Weak<Bayeux>>>,
}

#[derive(Serialize)]
struct Call<'a> {
    kind: &'a str,
    channel: &'a str,
    data: &'a RawValue,
    user: Option<&'a str>,
    client_id: Option<&'a str>,
}

#[derive(Deserialize)]
struct Answer {
    data: Option<Box<RawValue>>,
    error: Option<String>,
}

impl Webhook {
    /// Webhooks on `backend`.
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            core: Arc::default(),
        }
    }

    /// Where answers are delivered from now on.
    pub fn attach(&self, core: &Arc<Bayeux>) {
        let _ = self.core.set(Arc::downgrade(core));
    }

    /// Asks the backend; its answer's `data`, or the error for the sender.
    async fn call(
        &self,
        kind: &str,
        channel: &ChannelName,
        data: &RawValue,
        from: Option<&ServerSession>,
    ) -> Result<Option<Box<RawValue>>, BayeuxError> {
        let call = Call {
            kind,
            channel: channel.as_str(),
            data,
            user: from.and_then(ServerSession::user),
            client_id: from.map(ServerSession::id),
        };
        match self.backend.post::<Answer>(&call).await {
            Ok(None) => Ok(None),
            Ok(Some(Answer {
                error: Some(reason),
                ..
            })) => Err(BayeuxError::application(403, [""; 0], reason)),
            Ok(Some(answer)) => Ok(answer.data),
            Err(BackendError::Refused { status, reason }) => Err(BayeuxError::application(
                status,
                [""; 0],
                reason.unwrap_or_else(|| "refused".into()),
            )),
            Err(error) => {
                tracing::warn!(url = self.backend.url(), %error, channel = channel.as_str(), "webhook failed");
                Err(match error {
                    BackendError::Timeout(_) => BayeuxError::WebhookTimeout,
                    _ => BayeuxError::WebhookUnavailable,
                })
            }
        }
    }
}

impl Service for Webhook {
    /// The answer is the reply's `data` (CometD's remote call) and is also delivered to the
    /// sender alone as a message on the service channel, for clients (Faye's) that read
    /// answers from a subscription.
    fn call<'a>(&'a self, request: &'a ServiceRequest<'a>) -> BoxFuture<'a, ServiceAnswer> {
        Box::pin(async move {
            let answer = self
                .call("service", request.channel, request.data, request.session)
                .await?;
            let core = self.core.get().and_then(Weak::upgrade);
            if let (Some(answer), Some(session), Some(core)) = (&answer, request.session, core) {
                core.deliver_to_session(session, request.channel.as_str(), answer)?;
            }
            Ok(answer)
        })
    }
}

impl PublishFilter for Webhook {
    fn filter<'a>(
        &'a self,
        channel: &'a ChannelName,
        data: &'a RawValue,
        from: Option<&'a ServerSession>,
    ) -> BoxFuture<'a, Result<Filtered, BayeuxError>> {
        Box::pin(async move {
            Ok(match self.call("publish", channel, data, from).await? {
                Some(data) => Filtered::Rewrite(data),
                None => Filtered::Pass,
            })
        })
    }
}
