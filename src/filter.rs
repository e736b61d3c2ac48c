//! Publish filters: a publish on the channels a filter's pattern covers is offered to the
//! filter after the security checks and before it is broadcast; the filter lets it pass,
//! rewrites its data, or refuses it with an error for the publisher alone (FLT-1).
//!
//! Unlike an [`crate::Extension`]'s hooks, a filter is asynchronous, so it may ask another
//! system (a webhook does): only the publisher waits for it. Channels no filter covers pay
//! one look at an empty list.

use serde_json::value::RawValue;

use crate::protocol::{BayeuxError, ChannelName, ChannelPattern};
use crate::session::ServerSession;
use crate::BoxFuture;

/// What a filter decides about a publish.
#[derive(Debug)]
pub enum Filtered {
    /// Broadcast it as it is.
    Pass,
    /// Broadcast this data instead.
    Rewrite(Box<RawValue>),
}

/// Sees publishes before they are broadcast.
pub trait PublishFilter: Send + Sync + 'static {
    /// Decides the publish of `data` to `channel` by `from` (none for an anonymous
    /// publish); an error refuses it, and the publisher's reply carries the error.
    fn filter<'a>(
        &'a self,
        channel: &'a ChannelName,
        data: &'a RawValue,
        from: Option<&'a ServerSession>,
    ) -> BoxFuture<'a, Result<Filtered, BayeuxError>>;
}

/// The filters, by pattern, in the order they were added.
#[derive(Clone, Default)]
pub(crate) struct PublishFilters(Vec<(ChannelPattern, std::sync::Arc<dyn PublishFilter>)>);

impl PublishFilters {
    pub(crate) fn push(
        &mut self,
        pattern: ChannelPattern,
        filter: std::sync::Arc<dyn PublishFilter>,
    ) {
        self.0.push((pattern, filter));
    }

    /// Runs every filter covering `channel` in turn, each seeing the data the one before
    /// left; returns the new data if any filter rewrote it.
    pub(crate) async fn run(
        &self,
        channel: &ChannelName,
        data: &RawValue,
        from: Option<&ServerSession>,
    ) -> Result<Option<Box<RawValue>>, BayeuxError> {
        let mut rewritten: Option<Box<RawValue>> = None;
        for (pattern, filter) in &self.0 {
            if !pattern.matches(channel) {
                continue;
            }
            let current = rewritten.as_deref().unwrap_or(data);
            if let Filtered::Rewrite(data) = filter.filter(channel, current, from).await? {
                rewritten = Some(data);
            }
        }
        Ok(rewritten)
    }
}
