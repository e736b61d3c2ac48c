//! The soak's ledger: one account per subscriber identity (a clientId, from its handshake
//! to its disconnect or the end of the run), which records every sequence number it got
//! from its channel's publisher, so that loss and duplication are counted exactly rather
//! than estimated from totals.
//!
//! Lost, for an account: every number missing between the first it saw and the last it
//! saw, plus, for an account still there at the end, every number from its last to the
//! publisher's final count. Duplicated: every number seen again.

use serde::{Deserialize, Serialize};

use crate::soak_wire::Kind;

/// One subscriber identity.
#[derive(Debug, Clone)]
pub struct Account {
    /// The transport it started on (long-polling and WebSocket ones switch between the two).
    pub class: Kind,
    pub channel: usize,
    first: Option<u64>,
    max: u64,
    unique: u64,
    dups: u64,
    /// Deliveries of a number below the highest already seen (and not a duplicate).
    reordered: u64,
    bits: Vec<u64>,
    /// It disconnected for good (churn) or the server ended its session.
    pub ended: bool,
    /// The server ended its session (`reconnect: handshake`): what follows is a new account.
    pub dropped_by_server: bool,
}

impl Account {
    pub fn new(class: Kind, channel: usize) -> Account {
        Account {
            class,
            channel,
            first: None,
            max: 0,
            unique: 0,
            dups: 0,
            reordered: 0,
            bits: Vec::new(),
            ended: false,
            dropped_by_server: false,
        }
    }

    /// Records sequence number `seq`.
    pub fn see(&mut self, seq: u64) {
        let first = *self.first.get_or_insert(seq);
        if seq < first {
            // Before the first one seen: older than its baseline; counted as reordered.
            self.reordered += 1;
            return;
        }
        let i = (seq - first) as usize;
        let (w, b) = (i / 64, i % 64);
        if w >= self.bits.len() {
            self.bits.resize(w + 1, 0);
        }
        if self.bits[w] & (1 << b) != 0 {
            self.dups += 1;
            return;
        }
        self.bits[w] |= 1 << b;
        self.unique += 1;
        if seq < self.max {
            self.reordered += 1;
        }
        self.max = self.max.max(seq);
    }

    /// Whether it has everything up to `count` (the publisher's next number).
    pub fn complete(&self, count: u64) -> bool {
        self.ended
            || self.first.is_none_or(|f| f >= count)
            || self.gaps() == 0 && self.max + 1 >= count
    }

    fn gaps(&self) -> u64 {
        self.first
            .map_or(0, |f| (self.max - f + 1).saturating_sub(self.unique))
    }

    /// Adds this account to `t`, given its publisher's final count.
    pub fn tally(&self, final_count: u64, t: &mut Tally) {
        t.accounts += 1;
        t.received += self.unique;
        t.duplicated += self.dups;
        t.reordered += self.reordered;
        t.lost_gaps += self.gaps();
        if self.dropped_by_server {
            t.dropped_by_server += 1;
        }
        match self.first {
            None => t.silent += 1,
            Some(_) if !self.ended => t.lost_tail += final_count.saturating_sub(self.max + 1),
            Some(_) => {}
        }
    }
}

/// Sums over accounts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tally {
    pub accounts: u64,
    /// Unique deliveries.
    pub received: u64,
    /// Numbers missing between an account's first and last.
    pub lost_gaps: u64,
    /// Numbers an account still there at the end never got.
    pub lost_tail: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Accounts that got nothing at all (no baseline: not counted in loss).
    pub silent: u64,
    /// Accounts whose session the server ended.
    pub dropped_by_server: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.accounts += o.accounts;
        self.received += o.received;
        self.lost_gaps += o.lost_gaps;
        self.lost_tail += o.lost_tail;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.silent += o.silent;
        self.dropped_by_server += o.dropped_by_server;
    }

    pub fn lost(&self) -> u64 {
        self.lost_gaps + self.lost_tail
    }
}

/// Every account of a worker.
#[derive(Debug, Default)]
pub struct Book {
    pub accounts: Vec<Account>,
}

impl Book {
    pub fn open(&mut self, class: Kind, channel: usize) -> usize {
        self.accounts.push(Account::new(class, channel));
        self.accounts.len() - 1
    }

    /// Whether every account has what its publisher's final count says.
    pub fn complete(&self, finals: &[u64]) -> bool {
        self.accounts
            .iter()
            .all(|a| a.complete(finals.get(a.channel).copied().unwrap_or(0)))
    }

    /// Tallies by class (indexed by [`Kind::index`]) and by channel.
    pub fn tally(&self, finals: &[u64]) -> (Vec<Tally>, Vec<Tally>) {
        let mut by_class = vec![Tally::default(); Kind::ALL.len()];
        let mut by_channel = vec![Tally::default(); finals.len()];
        for a in &self.accounts {
            let f = finals.get(a.channel).copied().unwrap_or(0);
            a.tally(f, &mut by_class[a.class.index()]);
            if let Some(t) = by_channel.get_mut(a.channel) {
                a.tally(f, t);
            }
        }
        (by_class, by_channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_gaps_tail_and_duplicates() {
        let mut a = Account::new(Kind::LongPolling, 0);
        for s in [5, 6, 8, 8, 9] {
            a.see(s);
        }
        assert!(!a.complete(10));
        let mut t = Tally::default();
        a.tally(12, &mut t);
        assert_eq!(
            (t.received, t.lost_gaps, t.lost_tail, t.duplicated),
            (4, 1, 2, 1)
        );
        a.see(7);
        assert_eq!(a.reordered, 1);
        assert!(a.complete(10));
        a.ended = true;
        let mut t = Tally::default();
        a.tally(100, &mut t);
        assert_eq!(t.lost(), 0, "an account that left owes no tail");
    }
}
