//! Presence (PRS-1 to PRS-3): which users, not sessions, subscribe to each channel whose
//! rule asks for it, and a `join` or `leave` event on `<prefix><channel>` when a user's
//! first session arrives or their last one goes.
//!
//! Only subscriptions to a channel name count: a wildcard subscriber listens to many
//! channels without being "in" any of them.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use serde::Serialize;

use super::rules::Rules;
use crate::bayeux::Bayeux;
use crate::listener::Listener;
use crate::protocol::{ChannelPattern, Wildcard};
use crate::session::ServerSession;

/// The default prefix of presence channels.
pub const DEFAULT_PREFIX: &str = "/presence";

/// Who is on which channel, kept by listening to subscriptions.
#[derive(Debug)]
pub struct Presence {
    rules: Arc<Rules>,
    prefix: String,
    /// Per channel, each user's number of subscribed sessions.
    rooms: Mutex<HashMap<ChannelPattern, HashMap<Arc<str>, usize>>>,
    /// The core, to publish events on; set once the server is built.
    core: OnceLock<Weak<Bayeux>>,
}

#[derive(Serialize)]
struct Change<'a> {
    action: &'a str,
    user: &'a str,
    channel: &'a str,
}

impl Presence {
    /// Presence for the channels whose rule asks for it, announced under `prefix`.
    pub fn new(rules: Arc<Rules>, prefix: String) -> Self {
        Self {
            rules,
            prefix,
            rooms: Mutex::default(),
            core: OnceLock::new(),
        }
    }

    /// Where events are published from now on.
    pub fn attach(&self, core: &Arc<Bayeux>) {
        let _ = self.core.set(Arc::downgrade(core));
    }

    /// The users on `channel`, sorted; `None` when the channel has no presence.
    pub fn users(&self, channel: &ChannelPattern) -> Option<Vec<String>> {
        if !self.tracks(channel) {
            return None;
        }
        let rooms = self.rooms.lock();
        let mut users: Vec<String> = rooms
            .get(channel)
            .map(|room| room.keys().map(|user| user.to_string()).collect())
            .unwrap_or_default();
        users.sort_unstable();
        Some(users)
    }

    fn tracks(&self, channel: &ChannelPattern) -> bool {
        channel.wildcard() == Wildcard::None && self.rules.has_presence(channel)
    }

    /// Counts `user` in or out of `channel`; publishes when it is their first or last
    /// session there.
    fn change(&self, session: &ServerSession, channel: &ChannelPattern, joined: bool) {
        let Some(user) = session.0.user() else {
            return;
        };
        if !self.tracks(channel) {
            return;
        }
        let announce = {
            let mut rooms = self.rooms.lock();
            let room = rooms.entry(channel.clone()).or_default();
            let count = room.entry(Arc::clone(user)).or_default();
            let announce = match joined {
                true => *count == 0,
                false => *count == 1,
            };
            match joined {
                true => *count += 1,
                false => *count = count.saturating_sub(1),
            }
            if *count == 0 {
                room.remove(user);
                if room.is_empty() {
                    rooms.remove(channel);
                }
            }
            announce
        };
        if announce {
            self.announce(user, channel, if joined { "join" } else { "leave" });
        }
    }

    fn announce(&self, user: &str, channel: &ChannelPattern, action: &str) {
        let Some(core) = self.core.get().and_then(Weak::upgrade) else {
            return;
        };
        let change = Change {
            action,
            user,
            channel: channel.as_str(),
        };
        let data = serde_json::value::to_raw_value(&change).expect("plain JSON");
        let events = format!("{}{}", self.prefix, channel.as_str());
        if let Err(error) = core.publish_from_server(&events, &data) {
            tracing::warn!(%error, channel = events, "cannot publish a presence event");
        }
    }
}

/// Shared: the server calls it, the backend API reads it.
impl Listener for Arc<Presence> {
    fn subscribed(&self, session: &ServerSession, channel: &ChannelPattern) {
        self.change(session, channel, true);
    }

    fn unsubscribed(&self, session: &ServerSession, channel: &ChannelPattern) {
        self.change(session, channel, false);
    }
}
