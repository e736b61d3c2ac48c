//! A session bound to the browser that made it (BIND-1): its clientId alone, learned from a
//! JSONP or EventSource URL or a log, no longer lets anyone elsewhere act for it. The
//! browser is named by its `BAYEUX_BROWSER` cookie, which is `HttpOnly` and never in a URL;
//! its address stands in for the cookie on a connection opened before the cookie existed.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Session;

/// The browser a session belongs to.
#[derive(Debug)]
pub(super) struct Binding {
    browser: Box<str>,
    /// Where the handshake came from.
    address: Option<IpAddr>,
    /// The client has sent the cookie back: it keeps cookies. Until then a client without
    /// a cookie jar (a script, a server-side client) is let through from anywhere, as it
    /// would be with no binding.
    proven: AtomicBool,
}

impl Session {
    /// Binds the session to `browser`, from `address`: the cookie its handshake carried
    /// (`proven`), or the one its handshake reply sets. Only the first call counts.
    pub fn bind_to_browser(&self, browser: &str, address: Option<IpAddr>, proven: bool) {
        let _ = self.binding.set(Binding {
            browser: browser.into(),
            address,
            proven: AtomicBool::new(proven),
        });
    }

    /// Whether a request carrying the browser cookie `cookie`, from `address`, may act for
    /// this session: with the session's own cookie; without it, from the handshake's own
    /// address (a socket a client opened before its handshake's cookie arrived, as Faye
    /// does, or a second tab whose handshake replaced the cookie); from anywhere while the
    /// client has not yet shown that it keeps cookies. Each is read only if needed.
    pub fn admits<'a>(
        &self,
        cookie: impl FnOnce() -> Option<&'a str>,
        address: impl FnOnce() -> Option<IpAddr>,
    ) -> bool {
        let Some(binding) = self.binding.get() else {
            return true;
        };
        if cookie() == Some(&*binding.browser) {
            binding.proven.store(true, Ordering::Relaxed);
            return true;
        }
        if !binding.proven.load(Ordering::Relaxed) {
            return true;
        }
        let address = address();
        address.is_some() && address == binding.address
    }
}
