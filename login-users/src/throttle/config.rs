//! The policy: its defaults, the settings a [`Throttle`] holds, and the builder methods that
//! change them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::state::State;
use super::{Clock, SystemClock, Throttle};

/// Failures per (email, address) before the backoff starts: 5.
pub const DEFAULT_FREE_FAILURES: u32 = 5;
/// The backoff's first delay, doubled per further failure: 1 second.
pub const DEFAULT_FIRST_DELAY: Duration = Duration::from_secs(1);
/// The backoff's longest delay: 15 minutes.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures per account, from all addresses, within [`DEFAULT_ACCOUNT_WINDOW`]: 100 (ASVS 5).
pub const DEFAULT_ACCOUNT_LIMIT: u32 = 100;
/// The sliding window of the per-account ceiling: one hour.
pub const DEFAULT_ACCOUNT_WINDOW: Duration = Duration::from_secs(3600);
/// Failures per client address, on all accounts, within [`DEFAULT_ADDRESS_WINDOW`]: 20.
pub const DEFAULT_ADDRESS_LIMIT: u32 = 20;
/// The sliding window of the per-address budget: 10 minutes.
pub const DEFAULT_ADDRESS_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long an address an account logged in from stays exempt from its ceiling: 30 days.
pub const DEFAULT_TRUST_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// `forgot-password` or `request-verify-token` requests per email within
/// [`DEFAULT_EMAIL_WINDOW`]: 3.
pub const DEFAULT_EMAIL_LIMIT: u32 = 3;
/// The sliding window of the per-email limit: 15 minutes.
pub const DEFAULT_EMAIL_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys kept per table (pairs, accounts, client addresses, trusted addresses, and each mail
/// route): 100 000.
pub const DEFAULT_MAX_TRACKED: usize = 100_000;

#[derive(Clone, Copy, Debug)]
pub(super) struct Config {
    pub(super) enabled: bool,
    pub(super) free_failures: u32,
    pub(super) first_delay_ms: u64,
    pub(super) max_delay_ms: u64,
    pub(super) account_limit: usize,
    pub(super) account_window_ms: u64,
    pub(super) address_limit: usize,
    pub(super) address_window_ms: u64,
    pub(super) trust_for_ms: u64,
    pub(super) email_limit: usize,
    pub(super) email_window_ms: u64,
    pub(super) max_tracked: usize,
    pub(super) proxies: usize,
}

impl Default for Throttle {
    /// On, with the defaults of the table above, on the [`SystemClock`].
    fn default() -> Self {
        let config = Config {
            enabled: true,
            free_failures: DEFAULT_FREE_FAILURES,
            first_delay_ms: millis(DEFAULT_FIRST_DELAY),
            max_delay_ms: millis(DEFAULT_MAX_DELAY),
            account_limit: DEFAULT_ACCOUNT_LIMIT as usize,
            account_window_ms: millis(DEFAULT_ACCOUNT_WINDOW),
            address_limit: DEFAULT_ADDRESS_LIMIT as usize,
            address_window_ms: millis(DEFAULT_ADDRESS_WINDOW),
            trust_for_ms: millis(DEFAULT_TRUST_FOR),
            email_limit: DEFAULT_EMAIL_LIMIT as usize,
            email_window_ms: millis(DEFAULT_EMAIL_WINDOW),
            max_tracked: DEFAULT_MAX_TRACKED,
            proxies: 0,
        };
        Self::with(config, Arc::new(SystemClock))
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Throttle {
    /// The policy changed by `change` (the counters stay shared with the clones).
    fn reconfigured(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// The backoff per (email, client address): `free_failures` failures are free, then the
    /// pair is locked for `first_delay` after the next one, twice that after the one after, and
    /// so on up to `max_delay`.
    pub fn backoff(self, free_failures: u32, first_delay: Duration, max_delay: Duration) -> Self {
        self.reconfigured(|c| {
            c.free_failures = free_failures;
            c.first_delay_ms = millis(first_delay);
            c.max_delay_ms = millis(max_delay.max(first_delay));
        })
    }

    /// The ceiling per account across all addresses: at most `failures` within a sliding
    /// `window`; then the account's logins are refused (except from trusted addresses) until the
    /// oldest of them leaves the window. `window` is also how long a quiet (email, address)
    /// pair's failures are remembered. `failures = 0` turns the ceiling off.
    pub fn account_limit(self, failures: u32, window: Duration) -> Self {
        self.reconfigured(|c| {
            c.account_limit = failures as usize;
            c.account_window_ms = millis(window);
        })
    }

    /// The budget per client address across all accounts (credential stuffing): at most
    /// `failures` failed logins from one address, whatever the emails, within a sliding `window`;
    /// then every login from that address is refused (429) until the oldest of them leaves the
    /// window, except on accounts that logged in from that address before (see
    /// [`trusted_for`](Self::trusted_for)). Attempts still being checked count as failures to
    /// come. `failures = 0` turns the budget off; raise it for many users behind one address
    /// (an office's NAT) that you cannot tell apart with [`trusted_proxies`](Self::trusted_proxies).
    pub fn address_limit(self, failures: u32, window: Duration) -> Self {
        self.reconfigured(|c| {
            c.address_limit = failures as usize;
            c.address_window_ms = millis(window);
        })
    }

    /// How long, after a successful login from an address, that address stays exempt from the
    /// account's ceiling and, for that account, from the address's budget (not from its own
    /// backoff). `Duration::ZERO`: no exemption.
    pub fn trusted_for(self, duration: Duration) -> Self {
        self.reconfigured(|c| c.trust_for_ms = millis(duration))
    }

    /// At most `requests` `forgot-password` (and, counted apart, `request-verify-token`) requests
    /// per email within a sliding `window`. `requests = 0` turns the limit off.
    pub fn email_limit(self, requests: u32, window: Duration) -> Self {
        self.reconfigured(|c| {
            c.email_limit = requests as usize;
            c.email_window_ms = millis(window);
        })
    }

    /// Trusts the last `hops` entries of `X-Forwarded-For`, appended by that many proxies of your
    /// own in front of the app: the client address is the `hops`-th entry from the right (the
    /// connection's peer when the header has fewer entries). Only set this behind such proxies,
    /// which must append (not pass through) the header: otherwise any client can pick its
    /// address, and escape its backoff. Default 0: the header is ignored.
    pub fn trusted_proxies(self, hops: usize) -> Self {
        self.reconfigured(|c| c.proxies = hops)
    }

    /// At most `keys` entries per table (at least one); past that, the least recently active are
    /// dropped. An entry takes about 100 bytes (a per-account ceiling under attack up to 8 bytes
    /// per counted failure more).
    pub fn max_tracked(self, keys: usize) -> Self {
        self.reconfigured(|c| c.max_tracked = keys.max(1))
    }

    /// Reads the time from `clock` (a test's manual clock); forgets all counts.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        self.state = Arc::new(Mutex::new(State::new(clock.now())));
        self.clock = clock;
        self
    }
}
