//! Several clients in one browser (TR-8): long-polls held per `BAYEUX_BROWSER` cookie, so
//! extra tabs poll instead of exhausting the browser's connections to the host.

use std::sync::Arc;

use dashmap::DashMap;

/// The cookie naming a browser, set with a successful handshake over HTTP (TR-8).
pub const BROWSER_COOKIE: &str = "BAYEUX_BROWSER";

/// Held long-polls per browser id; an entry lives while it counts any.
#[derive(Debug)]
pub(super) struct Browsers {
    held: Arc<DashMap<Box<str>, usize>>,
    max: usize,
}

/// One held poll counted against a browser's limit; released when dropped.
#[derive(Debug)]
pub(super) struct BrowserSlot {
    held: Arc<DashMap<Box<str>, usize>>,
    browser: Box<str>,
}

impl Browsers {
    pub(super) fn new(max: usize) -> Self {
        Self {
            held: Arc::default(),
            max,
        }
    }

    /// A slot for one more held poll of `browser`; `None` when it holds as many as it may.
    pub(super) fn take(&self, browser: &str) -> Option<BrowserSlot> {
        let mut held = self.held.entry(browser.into()).or_insert(0);
        if *held >= self.max {
            return None;
        }
        *held += 1;
        Some(BrowserSlot {
            held: Arc::clone(&self.held),
            browser: browser.into(),
        })
    }
}

impl Drop for BrowserSlot {
    fn drop(&mut self) {
        self.held.remove_if_mut(&self.browser, |_, held| {
            *held -= 1;
            *held == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_given_back() {
        let browsers = Browsers::new(2);
        let a = browsers.take("b").unwrap();
        let _b = browsers.take("b").unwrap();
        assert!(browsers.take("b").is_none());
        assert!(browsers.take("other").is_some());
        drop(a);
        assert!(browsers.take("b").is_some());
    }
}
