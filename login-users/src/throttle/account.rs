//! The backoff per (email, client address) pair and the ceiling per account across addresses:
//! their entries in the throttle's tables.

use std::collections::VecDeque;

use super::attempt::Waiters;
use super::config::Config;
use super::state::latest;

/// The failures of one (email, address) pair.
#[derive(Default)]
pub(super) struct Pair {
    pub(super) failures: u32,
    /// When the last one was counted (ms since the epoch).
    pub(super) last: u64,
    pub(super) in_flight: u32,
    pub(super) waiters: Waiters,
}

impl Pair {
    /// The end of the pair's lock (in the past when there is none).
    pub(super) fn until(&self, c: &Config) -> u64 {
        self.last.saturating_add(delay_ms(self.failures, c))
    }

    pub(super) fn expired(&self, now: u64, c: &Config) -> bool {
        self.in_flight == 0 && now >= self.until(c).max(self.last.saturating_add(c.account_window_ms))
    }
}

/// The latest failures of an account from all addresses (at most the limit), oldest first.
#[derive(Default)]
pub(super) struct Account {
    pub(super) failures: VecDeque<u64>,
    pub(super) in_flight: u32,
    pub(super) waiters: Waiters,
}

impl Account {
    pub(super) fn expired(&self, now: u64, c: &Config) -> bool {
        self.in_flight == 0 && latest(&self.failures).saturating_add(c.account_window_ms) <= now
    }
}

/// The lock after `failures` failures: none for the free ones, then doubling.
pub(super) fn delay_ms(failures: u32, c: &Config) -> u64 {
    match failures.checked_sub(c.free_failures) {
        None | Some(0) => 0,
        Some(n) => {
            let factor = 1u64.checked_shl(n - 1).unwrap_or(u64::MAX);
            c.first_delay_ms.saturating_mul(factor).min(c.max_delay_ms)
        }
    }
}
