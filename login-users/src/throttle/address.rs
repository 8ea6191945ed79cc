//! The budget per client address across accounts: failed logins from one address, whatever the
//! emails, within a sliding window ([`Throttle::address_limit`](crate::Throttle::address_limit)).
//! It stops credential stuffing (one guess at each of many accounts, which no per-account rule
//! sees), and, since attempts in flight count, a burst of concurrent guesses from one address
//! queues at most the budget's worth of hashing ahead of everyone else's logins.

use std::collections::VecDeque;

use super::attempt::Waiters;
use super::config::Config;
use super::state::{forget_older, latest};

/// Attempts from one address checked at once, under the budget; the others wait their turn (in
/// the throttle, holding no hashing slot). So a burst from one address keeps at most this many
/// hashes ahead of a login from elsewhere, whatever the budget.
pub const ADDRESS_IN_FLIGHT: u32 = 2;

/// The latest failures from one address, on any account (at most the limit), oldest first.
#[derive(Default)]
pub(super) struct Address {
    failures: VecDeque<u64>,
    in_flight: u32,
    /// When an attempt last started or ended here.
    active: u64,
    pub(super) waiters: Waiters,
}

/// What the budget says about a new attempt from an address.
pub(super) struct Check {
    /// When the address may try again (in the past when it may now).
    pub(super) until: u64,
    /// Whether the new attempt waits for those in flight: [`ADDRESS_IN_FLIGHT`] are, or they
    /// would use up the budget if they all failed.
    pub(super) busy: bool,
}

impl Address {
    /// Whether the entry can be dropped: nothing in flight, no failure left in the window.
    pub(super) fn expired(&self, now: u64, c: &Config) -> bool {
        self.in_flight == 0 && latest(&self.failures).saturating_add(c.address_window_ms) <= now
    }

    /// The budget's answer for a new attempt, once older failures have left the window.
    pub(super) fn check(&mut self, now: u64, c: &Config) -> Check {
        forget_older(&mut self.failures, now, c.address_window_ms);
        let until = if self.failures.len() >= c.address_limit {
            self.failures[0].saturating_add(c.address_window_ms)
        } else {
            0
        };
        let busy = self.in_flight >= ADDRESS_IN_FLIGHT
            || (self.in_flight > 0 && self.failures.len() + self.in_flight as usize >= c.address_limit);
        Check { until, busy }
    }

    /// An attempt from this address starts.
    pub(super) fn start(&mut self, now: u64) {
        self.in_flight += 1;
        self.active = now;
    }

    /// An attempt from this address ended; a failure is counted. Wakes those waiting.
    pub(super) fn end(&mut self, failed: bool, now: u64, c: &Config) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.active = now;
        if failed {
            self.failures.push_back(now);
            while self.failures.len() > c.address_limit {
                self.failures.pop_front();
            }
        }
        self.waiters.wake();
    }

    /// Whether the entry holds nothing.
    pub(super) fn is_empty(&self) -> bool {
        self.failures.is_empty() && self.in_flight == 0
    }

    /// When an attempt last started or ended, for pruning the least recently active.
    pub(super) fn last(&self) -> u64 {
        self.active
    }
}
