//! Who may start a session now: handshakes per remote address (LIM-13), and the pacing of
//! a reconnect storm (STORM-1). Both answer through advice, which every CometD and Faye
//! client already obeys, rather than by dropping connections, which clients retry at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::Bayeux;
use crate::protocol::Reply;
use crate::request::RequestInfo;
use crate::session::Budget;

/// More tracked addresses than this and the full buckets are forgotten first; an address
/// with a full bucket behaves exactly as an unknown one, so nothing is lost by it.
const MAX_TRACKED: usize = 65_536;

/// The pacing of session starts, shared by every request of the node.
#[derive(Debug)]
pub(super) struct Admission {
    per_address: u32,
    surge: u32,
    spread: Duration,
    buckets: Mutex<HashMap<IpAddr, Budget>>,
    handshakes: Mutex<Window>,
}

/// Handshakes counted per second, the previous second's kept for a sliding estimate.
#[derive(Debug)]
struct Window {
    start: Instant,
    current: u32,
    previous: u32,
}

impl Admission {
    pub(super) fn new(per_address: u32, surge: u32, spread: Duration) -> Self {
        Self {
            per_address,
            surge,
            spread,
            buckets: Mutex::default(),
            handshakes: Mutex::new(Window {
                start: Instant::now(),
                current: 0,
                previous: 0,
            }),
        }
    }

    /// Takes one handshake from the budget of the address `request` came from; `false`
    /// when that address has none left.
    pub(super) fn admit(&self, request: &RequestInfo) -> bool {
        let Some(address) = self.limited_address(request) else {
            return true;
        };
        let now = Instant::now();
        let rate = self.per_address;
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&address) {
            buckets.retain(|_, b| b.refilled(now, rate) < f64::from(rate));
        }
        buckets
            .entry(address)
            .or_insert_with(|| Budget::full(rate, now))
            .spend(now, rate)
    }

    /// The address a handshake is counted against (see [`RequestInfo::client_address`]);
    /// a local process without a proxy's header is the operator's own and not limited.
    /// IPv6 addresses count per /64, what one host is given.
    fn limited_address(&self, request: &RequestInfo) -> Option<IpAddr> {
        if self.per_address == 0 {
            return None;
        }
        let address = request.client_address().filter(|a| !a.is_loopback())?;
        Some(match address {
            IpAddr::V6(v6) => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
            v4 => v4,
        })
    }

    /// Counts one handshake, for the storm's rate.
    pub(super) fn count_handshake(&self) {
        if self.surge == 0 {
            return;
        }
        let now = Instant::now();
        let mut window = self.handshakes.lock();
        let elapsed = now.duration_since(window.start);
        if elapsed >= Duration::from_secs(1) {
            window.previous = if elapsed >= Duration::from_secs(2) {
                0
            } else {
                window.current
            };
            window.current = 0;
            window.start = now;
        }
        window.current = window.current.saturating_add(1);
    }

    /// How long a client sent back to the handshake should wait first: nothing in calm
    /// times; past `surge` handshakes a second, a random share of as many seconds as the
    /// rate is times over it (capped at `spread`), so the clients come back at about
    /// `surge` a second instead of all at once, and no later than they need to.
    pub(super) fn jitter(&self) -> Option<u64> {
        if self.surge == 0 {
            return None;
        }
        let now = Instant::now();
        let window = self.handshakes.lock();
        let into = now.duration_since(window.start).as_secs_f64();
        // The previous second weighs what is left of it in a sliding one-second window.
        let previous = if into < 2.0 { window.previous } else { 0 };
        let current = if into < 1.0 { window.current } else { 0 };
        let rate = f64::from(current) + f64::from(previous) * (1.0 - into.min(1.0));
        drop(window);
        let over = rate / f64::from(self.surge) - 1.0;
        let spread = (over * 1000.0).min(self.spread.as_millis() as f64);
        (over > 0.0).then(|| fastrand::u64(0..=spread as u64))
    }

    /// How long a client refused for its address waits: one second, so the bucket has
    /// refilled, plus a random share of `spread`, so those refused together do not return
    /// together.
    pub(super) fn retry_after_refusal(&self) -> u64 {
        1000 + fastrand::u64(0..=self.spread.as_millis() as u64)
    }
}

impl Bayeux {
    /// During a storm, spreads a client that `reply` sends back to the handshake (such as
    /// every client of a restarted node, whose sessions are gone): its handshake waits.
    /// Other replies pass untouched.
    pub(super) fn pace(&self, reply: &mut Reply) {
        if reply.advises_handshake() {
            if let Some(wait) = self.admission.jitter() {
                reply.delay(wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn from(peer: &str, forwarded: Option<&str>) -> RequestInfo {
        let mut headers = HeaderMap::new();
        if let Some(f) = forwarded {
            headers.insert("x-forwarded-for", f.parse().unwrap());
        }
        RequestInfo::new(headers, Some(peer.parse().unwrap()))
    }

    #[tokio::test(start_paused = true)]
    async fn each_address_has_its_own_budget() {
        let admission = Admission::new(2, 0, Duration::ZERO);
        let a = from("198.51.100.1:1000", None);
        let b = from("198.51.100.2:1000", None);
        assert!(admission.admit(&a) && admission.admit(&a));
        assert!(!admission.admit(&a));
        assert!(admission.admit(&b));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(admission.admit(&a));
        assert!(!admission.admit(&a));
    }

    #[tokio::test(start_paused = true)]
    async fn a_local_proxy_is_read_through_and_ipv6_counts_per_prefix() {
        let admission = Admission::new(1, 0, Duration::ZERO);
        let local = from("127.0.0.1:1000", None);
        assert!((0..10).all(|_| admission.admit(&local)));
        let proxied = |hop| from("127.0.0.1:1000", Some(hop));
        assert!(admission.admit(&proxied("10.0.0.9, 203.0.113.7")));
        assert!(!admission.admit(&proxied("203.0.113.7")));
        assert!(admission.admit(&proxied("203.0.113.8")));
        assert!(admission.admit(&from("[2001:db8::1]:1000", None)));
        assert!(!admission.admit(&from("[2001:db8::2]:1000", None)));
        assert!(admission.admit(&from("[2001:db8:0:1::1]:1000", None)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_storm_is_spread_as_far_as_it_is_over_and_calm_is_not() {
        let admission = Admission::new(0, 10, Duration::from_millis(5000));
        (0..10).for_each(|_| admission.count_handshake());
        assert_eq!(admission.jitter(), None, "at the threshold");
        (0..20).for_each(|_| admission.count_handshake());
        let spread: Vec<u64> = (0..200).filter_map(|_| admission.jitter()).collect();
        assert_eq!(spread.len(), 200, "three times over");
        assert!(spread.iter().all(|&ms| ms <= 2000), "two seconds' worth");
        assert!(spread.iter().any(|&ms| ms > 1000) && spread.iter().any(|&ms| ms < 1000));
        (0..1000).for_each(|_| admission.count_handshake());
        assert!(
            (0..200)
                .filter_map(|_| admission.jitter())
                .all(|ms| ms <= 5000),
            "capped"
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(admission.jitter(), None);
    }
}
