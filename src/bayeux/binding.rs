//! Which requests may act for a session (BIND-1): the core names the browser at handshake
//! and checks every later message against it, so no transport has to.

use std::sync::Arc;

use super::{Bayeux, Connection, Inbound, BROWSER_COOKIE};
use crate::session::{ServerSession, Session};

impl Bayeux {
    /// Binds a new session to the browser its handshake came from; returns a new browser
    /// id when the handshake came over HTTP without one, for the response's cookie. A
    /// WebSocket handshake without a cookie cannot be given one, and stays unbound.
    pub(super) fn bind(&self, session: &ServerSession, inbound: Inbound<'_>) -> Option<Box<str>> {
        let carried = inbound.request.cookie(BROWSER_COOKIE);
        let new_browser: Option<Box<str>> = match (carried, inbound.connection) {
            (None, Connection::Http) => Some(uuid::Uuid::new_v4().simple().to_string().into()),
            _ => None,
        };
        if self.config.bind_sessions {
            let address = inbound.request.client_address();
            match (carried, new_browser.as_deref()) {
                (Some(browser), _) => session.0.bind_to_browser(browser, address, true),
                (None, Some(browser)) => session.0.bind_to_browser(browser, address, false),
                (None, None) => {}
            }
        }
        new_browser
    }

    /// Whether the request may act for `session`: any request when sessions are not bound,
    /// else one from the session's browser or address (a server-side session has none).
    pub(super) fn admits(&self, session: &Arc<Session>, inbound: Inbound<'_>) -> bool {
        if !self.config.bind_sessions || inbound.connection == Connection::Local {
            return true;
        }
        let request = inbound.request;
        let admitted = session.admits(
            || request.cookie(BROWSER_COOKIE),
            || request.client_address(),
        );
        if !admitted {
            tracing::debug!(
                client_id = session.id(),
                "a request from another browser named this session: refused"
            );
        }
        admitted
    }
}
