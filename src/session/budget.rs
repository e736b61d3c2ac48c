//! A token bucket as deep as one second's worth: `rate` at once, then `rate` a second. It
//! paces a session's publishes (LIM-12) and a remote address's handshakes (LIM-13).

use tokio::time::Instant;

use super::Session;

/// What is left to spend, as of `at`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    tokens: f64,
    at: Instant,
}

impl Budget {
    /// A full bucket of `rate`.
    pub fn full(rate: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(rate),
            at: now,
        }
    }

    /// What the bucket holds at `now`.
    pub fn refilled(&self, now: Instant, rate: u32) -> f64 {
        let rate = f64::from(rate);
        (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate).min(rate)
    }

    /// Takes one token at `now`; `false` when there is none.
    pub fn spend(&mut self, now: Instant, rate: u32) -> bool {
        let tokens = self.refilled(now, rate);
        let spent = tokens >= 1.0;
        *self = Self {
            tokens: if spent { tokens - 1.0 } else { tokens },
            at: now,
        };
        spent
    }
}

impl Session {
    /// Takes one publish from the session's budget of `rate` a second (LIM-12); `false`
    /// when it has none left.
    pub fn spend_publish(&self, rate: u32) -> bool {
        let now = Instant::now();
        self.publish_budget
            .lock()
            .get_or_insert_with(|| Budget::full(rate, now))
            .spend(now, rate)
    }
}
