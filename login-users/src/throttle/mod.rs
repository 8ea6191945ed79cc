//! Throttling of the routes an attacker can repeat for profit: password guessing on the two
//! login routes, and mail sent by `forgot-password` and `request-verify-token`. On by default
//! ([`Throttle::default`]); configured with [`UsersBuilder::throttle`](super::UsersBuilder::throttle).
//!
//! **Login** (`POST /auth/jwt/login`, `POST /auth/cookie/login`), after the OWASP Authentication
//! cheat sheet and ASVS 5:
//! - *Backoff per account and client address.* Failures are counted per (email, client address):
//!   the first 5 are free, then each further one locks that pair for a delay that doubles per
//!   failure, 1 s, 2 s, 4 s, … up to 15 minutes. An attacker's failures from its address do not
//!   slow the real user down on theirs. A successful login clears the pair's count; an hour
//!   without a failure forgets it.
//! - *A ceiling per account across all addresses.* 100 failures within a sliding hour lock the
//!   account's logins from every address for as long as the 100th-latest failure stays in that
//!   hour, so never more than an hour after the last counted failure (attempts refused with 429
//!   are not counted, and cannot extend the lock). Addresses the account logged in from
//!   successfully in the last 30 days are exempt from the ceiling (still under their own
//!   backoff): a distributed attack on an account cannot keep its owner out, from where they
//!   usually log in, even while it goes on.
//! - *A budget per client address across accounts* (credential stuffing: one guess at each of
//!   many accounts, which no per-account rule sees). 20 failures from one address within a
//!   sliding 10 minutes, whatever the emails, refuse every login from that address until the
//!   oldest of them leaves the window (so at most 10 minutes after the last counted failure;
//!   refused attempts are not counted). Accounts that logged in from the address in the last 30
//!   days are exempt (their logins are neither refused nor counted), so one office NAT's
//!   mistypes do not lock out the colleagues who logged in there before; raise the budget with
//!   [`Throttle::address_limit`] for many new users behind one address. At most
//!   [`ADDRESS_IN_FLIGHT`] (2) attempts from one address are checked at once, the others wait
//!   their turn without hashing: 100 concurrent guesses from one address keep at most 2 hashes
//!   ahead of a login from elsewhere (measured: a real login's median went from 3.8 s to about
//!   0.3 s during such a burst, 20–50 ms without it). The "unknown" address (no `ConnectInfo`)
//!   has no budget: it would be everyone's.
//! - Attempts still being checked count as failures to come: an attempt that would be throttled
//!   if they all failed waits for them to end first. A burst of concurrent guesses gets no
//!   further than guesses one after the other, while concurrent logins with the right password
//!   all go through. A client hanging up mid-check counts as a failure.
//! - Unknown emails, wrong passwords and inactive users are counted alike (the key is the email
//!   as typed, ASCII lower-cased, whether or not it is a user's), so a 429 tells nothing about
//!   which emails exist. A throttled attempt is answered at once, without hashing.
//! - The answer is **429** `{"detail":"LOGIN_TOO_MANY_ATTEMPTS"}` with `Retry-After: <seconds>`.
//!
//! **Mail** (`POST /auth/forgot-password`, `POST /auth/request-verify-token`): at most 3
//! requests per email (lower-cased) and route within a sliding 15 minutes, known email or not;
//! then **429** `{"detail":"TOO_MANY_REQUESTS"}` with `Retry-After`, until the oldest of the three
//! leaves the window. Requests refused with 429 are not counted. Other emails are not affected.
//! A third party can use up an email's quota, which delays its owner's mail by at most the window.
//!
//! **Client address.** The peer address of the connection, from axum's
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo): serve the app with
//! `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`. Without it
//! every client shares one "unknown" address (a warning is logged once), and the backoff becomes
//! per account only. IPv6 addresses count per /64 (one host's usual allocation). `X-Forwarded-For`
//! is ignored unless [`Throttle::trusted_proxies`] says how many proxies of yours append to it.
//! Clients behind one NAT share an address, and so a backoff (at most 15 minutes at a time).
//!
//! **Per instance.** The counters live in this process's memory (clones of a [`Throttle`] share
//! them): several instances behind a load balancer each count on their own (so N instances allow
//! up to N times the limits), and a restart forgets everything. Memory stays bounded: emails are kept as 128-bit digests, expired entries are
//! pruned, and each table keeps at most [`Throttle::max_tracked`] keys (the least recently active
//! are dropped first when an attack on many emails fills it).
//!
//! [`Users::authenticate`](super::Users::authenticate) and the other operations of
//! [`Users`](super::Users) are not throttled: the routes are.

mod account;
mod address;
mod attempt;
mod client;
mod clock;
mod config;
mod mail;
mod state;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use self::address::ADDRESS_IN_FLIGHT;
pub(crate) use self::client::Client;
pub use self::clock::{Clock, SystemClock};
use self::config::{Config, millis};
pub use self::config::{
    DEFAULT_ACCOUNT_LIMIT, DEFAULT_ACCOUNT_WINDOW, DEFAULT_ADDRESS_LIMIT, DEFAULT_ADDRESS_WINDOW,
    DEFAULT_EMAIL_LIMIT, DEFAULT_EMAIL_WINDOW, DEFAULT_FIRST_DELAY, DEFAULT_FREE_FAILURES, DEFAULT_MAX_DELAY,
    DEFAULT_MAX_TRACKED, DEFAULT_TRUST_FOR,
};
pub(crate) use self::mail::MailRoute;
use self::state::State;

/// The throttling policy of the users routes, with its in-memory counters (see the
/// [module documentation](self) for what is counted and why). Clones share the counters.
///
/// | setting | default |
/// |---|---|
/// | [`backoff`](Self::backoff) per (email, address) | 5 free failures, then 1 s doubling to 15 min |
/// | [`account_limit`](Self::account_limit) across addresses | 100 failures per sliding hour |
/// | [`address_limit`](Self::address_limit) across accounts | 20 failures per sliding 10 min |
/// | [`trusted_for`](Self::trusted_for): exemption from the account limit | 30 days after a login from the address |
/// | [`email_limit`](Self::email_limit), forgot-password and request-verify-token | 3 per email per sliding 15 min |
/// | [`trusted_proxies`](Self::trusted_proxies) | 0: `X-Forwarded-For` ignored |
/// | [`max_tracked`](Self::max_tracked) keys per table | 100 000 |
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use login_users::{MemoryStore, Throttle, Users};
///
/// // Stricter than the default: backoff from the fourth failure, up to an hour; one reset or
/// // verification mail per email and 10 minutes.
/// let throttle = Throttle::default()
///     .backoff(3, Duration::from_secs(2), Duration::from_secs(3600))
///     .email_limit(1, Duration::from_secs(600));
/// let users = Users::builder(Arc::new(MemoryStore::default()))
///     .secret("a secret of at least thirty-two bytes!")
///     .throttle(throttle)
///     .build()?;
/// // Serve with the client's address, which the backoff is keyed on:
/// // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
/// # Ok::<(), login_runtime::ConfigError>(())
/// ```
///
/// Off, for an app that throttles elsewhere (a gateway), or for tests:
///
/// ```
/// use login_users::Throttle;
///
/// assert!(!Throttle::disabled().is_enabled());
/// assert!(Throttle::default().is_enabled());
/// ```
#[derive(Clone)]
pub struct Throttle {
    config: Config,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Throttle {
    /// [`Throttle::default`]: on, with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// No throttling at all: every attempt reaches the password check, every request the mail
    /// hook.
    pub fn disabled() -> Self {
        let mut throttle = Self::default();
        throttle.config.enabled = false;
        throttle
    }

    fn with(config: Config, clock: Arc<dyn Clock>) -> Self {
        let state = State::new(clock.now());
        Self {
            config,
            clock,
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Whether anything is throttled.
    pub fn is_enabled(&self) -> bool {
        self.config.enabled
    }

    /// The counters, swept if it is time, and the time (ms since their epoch).
    fn lock(&self) -> (MutexGuard<'_, State>, u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = millis(self.clock.now().saturating_duration_since(state.epoch));
        state.maybe_prune(now, &self.config);
        (state, now)
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State, u64) -> T) -> T {
        let (mut state, now) = self.lock();
        f(&mut state, now)
    }
}

#[cfg(test)]
mod tests;
