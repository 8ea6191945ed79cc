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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

pub use self::address::ADDRESS_IN_FLIGHT;
use self::address::Address;
use crate::store::email_key;

mod address;

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

/// Expired entries are swept at most this often (and whenever a table is full).
const PRUNE_EVERY_MS: u64 = 60_000;

/// Where a [`Throttle`] reads the time: the system's monotonic clock, or a clock of your own in
/// tests.
///
/// ```
/// use std::sync::Mutex;
/// use std::time::{Duration, Instant};
/// use login_users::Clock;
///
/// /// A clock that moves only when told to.
/// struct Manual(Mutex<Instant>);
///
/// impl Clock for Manual {
///     fn now(&self) -> Instant {
///         *self.0.lock().unwrap()
///     }
/// }
///
/// let clock = Manual(Mutex::new(Instant::now()));
/// let before = clock.now();
/// *clock.0.lock().unwrap() += Duration::from_secs(60);
/// assert_eq!(clock.now() - before, Duration::from_secs(60));
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current instant; must never go backwards.
    fn now(&self) -> Instant;
}

/// [`Instant::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

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

#[derive(Clone, Copy, Debug)]
struct Config {
    enabled: bool,
    free_failures: u32,
    first_delay_ms: u64,
    max_delay_ms: u64,
    account_limit: usize,
    account_window_ms: u64,
    address_limit: usize,
    address_window_ms: u64,
    trust_for_ms: u64,
    email_limit: usize,
    email_window_ms: u64,
    max_tracked: usize,
    proxies: usize,
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

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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

    /// The policy changed by `change` (the counters stay shared with the clones).
    fn reconfigured(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// Whether anything is throttled.
    pub fn is_enabled(&self) -> bool {
        self.config.enabled
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

    /// The client address of a request: the peer, or the trusted `X-Forwarded-For` entry.
    pub(crate) fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Client {
        if !self.config.enabled {
            return Client::Unknown;
        }
        let forwarded = match self.config.proxies {
            0 => None,
            hops => forwarded_for(headers, hops),
        };
        match forwarded.or(peer.map(|p| p.ip())) {
            Some(ip) => Client::Ip(bucket(ip)),
            None => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "login throttling cannot see client addresses (serve with \
                         `into_make_service_with_connect_info::<SocketAddr>()`): all clients share \
                         one backoff per account"
                    );
                }
                Client::Unknown
            }
        }
    }

    /// Starts a login attempt for `email` from `client`: the time to wait if it is throttled,
    /// else the attempt, a failure unless [`LoginAttempt::succeeded`] or [`LoginAttempt::cancel`]
    /// says otherwise. Attempts still being checked count as failures to come: one that would be
    /// throttled if they failed waits for them to end (a burst of right passwords goes through,
    /// a burst of guesses gets no further than guesses one after the other).
    pub(crate) async fn login(&self, email: &str, client: Client) -> Result<LoginAttempt<'_>, Duration> {
        if !self.config.enabled {
            return Ok(LoginAttempt {
                throttle: self,
                key: None,
                budgeted: false,
            });
        }
        let key = (digest(email), client);
        loop {
            let waiters;
            let ended = {
                let (mut state, now) = self.lock();
                match state.begin(key, now, &self.config) {
                    Begin::Go { budgeted } => {
                        return Ok(LoginAttempt {
                            throttle: self,
                            key: Some(key),
                            budgeted,
                        });
                    }
                    Begin::Throttled(wait) => return Err(Duration::from_millis(wait)),
                    Begin::Wait(w) => waiters = w,
                }
                // Made under the lock: whatever ends an attempt after it is released wakes this.
                waiters.notified()
            };
            ended.await;
        }
    }

    /// Counts a `forgot-password` or `request-verify-token` request for `email`, or tells how long
    /// to wait (and does not count it).
    pub(crate) fn email_request(&self, route: MailRoute, email: &str) -> Result<(), Duration> {
        let c = self.config;
        if !c.enabled || c.email_limit == 0 {
            return Ok(());
        }
        let key = digest(email);
        self.with_state(|s, now| {
            let table = match route {
                MailRoute::ForgotPassword => &mut s.forgot,
                MailRoute::RequestVerify => &mut s.verify,
            };
            let times = table.entry(key).or_default();
            forget_older(times, now, c.email_window_ms);
            if times.len() >= c.email_limit {
                let until = times[0].saturating_add(c.email_window_ms);
                return Err(Duration::from_millis(until.saturating_sub(now).max(1)));
            }
            times.push_back(now);
            Ok(())
        })
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

/// The two mail routes, throttled apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MailRoute {
    ForgotPassword,
    RequestVerify,
}

/// The address a client is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    /// An IPv4 address, or an IPv6 /64.
    Ip(IpAddr),
    /// No address known: one shared bucket.
    Unknown,
}

/// IPv4 as is (IPv4-mapped IPv6 too); IPv6 cut to its /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// The `hops`-th entry from the right of `X-Forwarded-For` (all its lines, in order).
fn forwarded_for(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let entry = entries.get(entries.len().checked_sub(hops)?)?;
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The key of an email: 128 bits of the SHA-256 of its ASCII lower case (fixed size, and no
/// addresses kept in memory).
fn digest(email: &str) -> u128 {
    let hash = Sha256::digest(email_key(email).as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(first)
}

/// Drops the times that have left the `window` ending now.
fn forget_older(times: &mut VecDeque<u64>, now: u64, window: u64) {
    while times.front().is_some_and(|&t| t.saturating_add(window) <= now) {
        times.pop_front();
    }
}

/// An attempt being checked; dropped as it is, it counts as a failure (a client hanging up
/// mid-check too).
pub(crate) struct LoginAttempt<'a> {
    throttle: &'a Throttle,
    /// `None` once ended, or when nothing is throttled.
    key: Option<(u128, Client)>,
    /// Whether the address's budget counts it in flight.
    budgeted: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failure,
    Success,
    Cancelled,
}

impl LoginAttempt<'_> {
    /// The password was right and the user active: the pair's failures are cleared, and the
    /// address is trusted by the account.
    pub(crate) fn succeeded(mut self) {
        self.end(Outcome::Success);
    }

    /// The attempt could not be decided (the store failed): not counted.
    pub(crate) fn cancel(mut self) {
        self.end(Outcome::Cancelled);
    }

    fn end(&mut self, outcome: Outcome) {
        let Some(key) = self.key.take() else { return };
        let c = self.throttle.config;
        let budgeted = self.budgeted;
        self.throttle
            .with_state(|s, now| s.end(key, budgeted, outcome, now, &c));
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        self.end(Outcome::Failure);
    }
}

/// What [`State::begin`] decided.
enum Begin {
    /// Counted in flight; by the address's budget too when `budgeted` (not when the account
    /// trusts the address).
    Go { budgeted: bool },
    /// Refused: wait this long (ms).
    Throttled(u64),
    /// Wait for attempts in flight to end, then ask again.
    Wait(Arc<Notify>),
}

/// The tasks waiting for attempts in flight on one pair or account; woken when one ends, and
/// when the entry is dropped.
#[derive(Default)]
struct Waiters(Option<Arc<Notify>>);

impl Waiters {
    fn get(&mut self) -> Arc<Notify> {
        self.0.get_or_insert_with(Default::default).clone()
    }

    fn wake(&mut self) {
        if let Some(notify) = self.0.take() {
            notify.notify_waiters();
        }
    }
}

impl Drop for Waiters {
    fn drop(&mut self) {
        self.wake();
    }
}

/// The failures of one (email, address) pair.
#[derive(Default)]
struct Pair {
    failures: u32,
    /// When the last one was counted (ms since the epoch).
    last: u64,
    in_flight: u32,
    waiters: Waiters,
}

impl Pair {
    /// The end of the pair's lock (in the past when there is none).
    fn until(&self, c: &Config) -> u64 {
        self.last.saturating_add(delay_ms(self.failures, c))
    }

    fn expired(&self, now: u64, c: &Config) -> bool {
        self.in_flight == 0 && now >= self.until(c).max(self.last.saturating_add(c.account_window_ms))
    }
}

/// The latest failures of an account from all addresses (at most the limit), oldest first.
#[derive(Default)]
struct Account {
    failures: VecDeque<u64>,
    in_flight: u32,
    waiters: Waiters,
}

impl Account {
    fn expired(&self, now: u64, c: &Config) -> bool {
        self.in_flight == 0 && latest(&self.failures).saturating_add(c.account_window_ms) <= now
    }
}

/// The lock after `failures` failures: none for the free ones, then doubling.
fn delay_ms(failures: u32, c: &Config) -> u64 {
    match failures.checked_sub(c.free_failures) {
        None | Some(0) => 0,
        Some(n) => {
            let factor = 1u64.checked_shl(n - 1).unwrap_or(u64::MAX);
            c.first_delay_ms.saturating_mul(factor).min(c.max_delay_ms)
        }
    }
}

struct State {
    epoch: Instant,
    last_prune: u64,
    pairs: HashMap<(u128, Client), Pair>,
    accounts: HashMap<u128, Account>,
    /// Failures per client address, on all accounts.
    addresses: HashMap<Client, Address>,
    /// When an account last logged in from an address.
    trusted: HashMap<(u128, Client), u64>,
    forgot: HashMap<u128, VecDeque<u64>>,
    verify: HashMap<u128, VecDeque<u64>>,
}

impl State {
    fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            last_prune: 0,
            pairs: HashMap::new(),
            accounts: HashMap::new(),
            addresses: HashMap::new(),
            trusted: HashMap::new(),
            forgot: HashMap::new(),
            verify: HashMap::new(),
        }
    }

    fn begin(&mut self, key: (u128, Client), now: u64, c: &Config) -> Begin {
        let (account, client) = key;
        if self.pairs.get(&key).is_some_and(|p| p.expired(now, c)) {
            self.pairs.remove(&key);
        }
        let (mut until, pair_busy) = self.pairs.get(&key).map_or((0, false), |p| {
            // If the attempts in flight all fail, would the next one be throttled?
            let busy = p.in_flight > 0 && p.failures.saturating_add(p.in_flight) > c.free_failures;
            (p.until(c), busy)
        });
        let trusted = client != Client::Unknown
            && self
                .trusted
                .get(&key)
                .is_some_and(|&t| t.saturating_add(c.trust_for_ms) > now);
        let mut account_busy = false;
        if c.account_limit > 0
            && !trusted
            && let Some(acct) = self.accounts.get_mut(&account)
        {
            forget_older(&mut acct.failures, now, c.account_window_ms);
            if acct.failures.len() >= c.account_limit {
                until = until.max(acct.failures[0].saturating_add(c.account_window_ms));
            }
            account_busy =
                acct.in_flight > 0 && acct.failures.len() + acct.in_flight as usize >= c.account_limit;
        }
        let budgeted = c.address_limit > 0 && client != Client::Unknown && !trusted;
        let mut address_busy = false;
        if budgeted && let Some(address) = self.addresses.get_mut(&client) {
            let check = address.check(now, c);
            until = until.max(check.until);
            address_busy = check.busy;
        }
        if until > now {
            return Begin::Throttled(until - now);
        }
        if pair_busy && let Some(pair) = self.pairs.get_mut(&key) {
            return Begin::Wait(pair.waiters.get());
        }
        if account_busy && let Some(acct) = self.accounts.get_mut(&account) {
            return Begin::Wait(acct.waiters.get());
        }
        if address_busy && let Some(address) = self.addresses.get_mut(&client) {
            return Begin::Wait(address.waiters.get());
        }
        self.pairs.entry(key).or_default().in_flight += 1;
        if c.account_limit > 0 {
            self.accounts.entry(account).or_default().in_flight += 1;
        }
        if budgeted {
            self.addresses.entry(client).or_default().start(now);
        }
        Begin::Go { budgeted }
    }

    /// Ends an attempt; `budgeted`: whether it was counted in flight by its address's budget.
    fn end(&mut self, key: (u128, Client), budgeted: bool, outcome: Outcome, now: u64, c: &Config) {
        let pair = self.pairs.entry(key).or_default();
        pair.in_flight = pair.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Failure => {
                pair.failures = pair.failures.saturating_add(1);
                pair.last = now;
            }
            Outcome::Success => pair.failures = 0,
            Outcome::Cancelled => {}
        }
        pair.waiters.wake();
        if pair.failures == 0 && pair.in_flight == 0 {
            self.pairs.remove(&key);
        }
        if c.account_limit > 0 {
            let acct = self.accounts.entry(key.0).or_default();
            acct.in_flight = acct.in_flight.saturating_sub(1);
            if outcome == Outcome::Failure {
                acct.failures.push_back(now);
                while acct.failures.len() > c.account_limit {
                    acct.failures.pop_front();
                }
            }
            acct.waiters.wake();
            if acct.failures.is_empty() && acct.in_flight == 0 {
                self.accounts.remove(&key.0);
            }
        }
        if budgeted && let Some(address) = self.addresses.get_mut(&key.1) {
            address.end(outcome == Outcome::Failure, now, c);
            if address.is_empty() {
                self.addresses.remove(&key.1);
            }
        }
        if outcome == Outcome::Success && c.trust_for_ms > 0 && key.1 != Client::Unknown {
            self.trusted.insert(key, now);
        }
    }

    fn maybe_prune(&mut self, now: u64, c: &Config) {
        let full = [
            self.pairs.len(),
            self.accounts.len(),
            self.addresses.len(),
            self.trusted.len(),
            self.forgot.len(),
            self.verify.len(),
        ]
        .into_iter()
        .any(|len| len >= c.max_tracked);
        if !full && now < self.last_prune.saturating_add(PRUNE_EVERY_MS) {
            return;
        }
        self.last_prune = now;
        let cap = c.max_tracked;
        prune(&mut self.pairs, cap, |p| p.expired(now, c), |p| p.last);
        prune(
            &mut self.accounts,
            cap,
            |a| a.expired(now, c),
            |a| latest(&a.failures),
        );
        prune(&mut self.addresses, cap, |a| a.expired(now, c), Address::last);
        let trust = c.trust_for_ms;
        prune(
            &mut self.trusted,
            cap,
            |&t| t.saturating_add(trust) <= now,
            |&t| t,
        );
        let window = c.email_window_ms;
        for table in [&mut self.forgot, &mut self.verify] {
            prune(table, cap, |f| latest(f).saturating_add(window) <= now, latest);
        }
    }
}

fn latest(times: &VecDeque<u64>) -> u64 {
    times.back().copied().unwrap_or(0)
}

/// Removes the expired entries; if more than `cap` remain, the least recently active down to 90%
/// of `cap`, so that the next sweep is some inserts away.
fn prune<K: Hash + Eq + Copy, V>(
    map: &mut HashMap<K, V>,
    cap: usize,
    expired: impl Fn(&V) -> bool,
    last: impl Fn(&V) -> u64,
) {
    map.retain(|_, v| !expired(v));
    if map.len() < cap {
        return;
    }
    let keep = (cap - cap / 10).min(cap.saturating_sub(1)).max(1);
    let mut ages: Vec<(u64, K)> = map.iter().map(|(k, v)| (last(v), *k)).collect();
    let drop = ages.len() - keep.min(ages.len());
    if drop == 0 {
        return;
    }
    ages.select_nth_unstable_by_key(drop - 1, |(t, _)| *t);
    for (_, k) in &ages[..drop] {
        map.remove(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Manual(Arc<Mutex<Instant>>);

    impl Manual {
        fn new() -> Self {
            Self(Arc::new(Mutex::new(Instant::now())))
        }
        fn advance(&self, d: Duration) {
            *self.0.lock().unwrap() += d;
        }
    }

    impl Clock for Manual {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    fn throttle() -> (Throttle, Manual) {
        let clock = Manual::new();
        (Throttle::default().clock(clock.clone()), clock)
    }

    fn ip(n: u8) -> Client {
        Client::Ip(IpAddr::from([192, 0, 2, n]))
    }

    /// The output of `future` if it is ready at its first poll.
    fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        }
    }

    /// An attempt that does not have to wait for others.
    fn begin<'a>(t: &'a Throttle, email: &str, client: Client) -> Result<LoginAttempt<'a>, Duration> {
        now_or_never(t.login(email, client)).expect("the attempt waits")
    }

    /// A failed attempt (the attempt dropped as it is); the wait when throttled.
    fn fail(t: &Throttle, email: &str, client: Client) -> Result<(), Duration> {
        begin(t, email, client).map(drop)
    }

    #[test]
    fn backoff_starts_after_the_free_failures_and_doubles_up_to_the_cap() {
        let (t, clock) = throttle();
        for _ in 0..DEFAULT_FREE_FAILURES {
            fail(&t, "a@example.com", ip(1)).unwrap();
        }
        // The sixth failure is counted, and locks for 1 s, then 2 s, 4 s, …
        fail(&t, "a@example.com", ip(1)).unwrap();
        let mut expected = Duration::from_secs(1);
        for _ in 0..15 {
            assert_eq!(fail(&t, "a@example.com", ip(1)), Err(expected));
            clock.advance(expected - Duration::from_millis(1));
            assert_eq!(fail(&t, "a@example.com", ip(1)), Err(Duration::from_millis(1)));
            clock.advance(Duration::from_millis(1));
            fail(&t, "a@example.com", ip(1)).unwrap();
            expected = (expected * 2).min(DEFAULT_MAX_DELAY);
        }
        assert_eq!(expected, DEFAULT_MAX_DELAY);
    }

    #[test]
    fn the_backoff_is_per_address_and_case_insensitive() {
        let (t, _) = throttle();
        for _ in 0..=DEFAULT_FREE_FAILURES {
            fail(&t, "Victim@Example.com", ip(1)).unwrap();
        }
        assert!(fail(&t, "victim@example.com", ip(1)).is_err());
        assert!(fail(&t, "VICTIM@EXAMPLE.COM", ip(1)).is_err());
        // The victim's address and other emails are unaffected.
        begin(&t, "victim@example.com", ip(2)).unwrap().succeeded();
        fail(&t, "other@example.com", ip(1)).unwrap();
    }

    #[test]
    fn success_clears_the_pair() {
        let (t, _) = throttle();
        for _ in 0..DEFAULT_FREE_FAILURES {
            fail(&t, "a@example.com", ip(1)).unwrap();
        }
        begin(&t, "a@example.com", ip(1)).unwrap().succeeded();
        for _ in 0..=DEFAULT_FREE_FAILURES {
            fail(&t, "a@example.com", ip(1)).unwrap();
        }
        assert!(fail(&t, "a@example.com", ip(1)).is_err());
    }

    #[test]
    fn cancelled_attempts_do_not_count() {
        let (t, _) = throttle();
        for _ in 0..20 {
            begin(&t, "a@example.com", ip(1)).unwrap().cancel();
        }
        for _ in 0..=DEFAULT_FREE_FAILURES {
            fail(&t, "a@example.com", ip(1)).unwrap();
        }
        assert!(fail(&t, "a@example.com", ip(1)).is_err());
    }

    #[test]
    fn concurrent_guesses_wait_for_those_in_flight() {
        let (t, _) = throttle();
        // The pair's rule alone: the address budget checks only `ADDRESS_IN_FLIGHT` at once.
        let t = t.address_limit(0, DEFAULT_ADDRESS_WINDOW);
        let held: Vec<_> = (0..=DEFAULT_FREE_FAILURES)
            .map(|_| begin(&t, "a@example.com", ip(1)).unwrap())
            .collect();
        let mut next = std::pin::pin!(t.login("a@example.com", ip(1)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(next.as_mut().poll(&mut cx).is_pending());
        // Another address is not held up.
        begin(&t, "a@example.com", ip(2)).unwrap().succeeded();
        assert!(next.as_mut().poll(&mut cx).is_pending());
        // The six in flight fail: the waiting one is throttled.
        drop(held);
        match next.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Err(wait)) => assert_eq!(wait, DEFAULT_FIRST_DELAY),
            _ => panic!("the waiting attempt is not throttled"),
        }
    }

    #[test]
    fn concurrent_right_passwords_all_go_through() {
        let (t, _) = throttle();
        // The pair's rule alone: the address budget checks only `ADDRESS_IN_FLIGHT` at once.
        let t = t.address_limit(0, DEFAULT_ADDRESS_WINDOW);
        let held: Vec<_> = (0..=DEFAULT_FREE_FAILURES)
            .map(|_| begin(&t, "a@example.com", ip(1)).unwrap())
            .collect();
        let mut next = std::pin::pin!(t.login("a@example.com", ip(1)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(next.as_mut().poll(&mut cx).is_pending());
        for attempt in held {
            attempt.succeeded();
        }
        match next.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(attempt)) => attempt.succeeded(),
            _ => panic!("the waiting attempt does not go"),
        }
        assert!(t.state.lock().unwrap().pairs.is_empty());
    }

    #[test]
    fn concurrent_guesses_at_the_account_ceiling_wait_too() {
        let (t, _) = throttle();
        for i in 0..DEFAULT_ACCOUNT_LIMIT - 1 {
            fail(&t, "a@example.com", ip((i % 50) as u8)).unwrap();
        }
        let last = begin(&t, "a@example.com", ip(100)).unwrap();
        let mut next = std::pin::pin!(t.login("a@example.com", ip(101)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(next.as_mut().poll(&mut cx).is_pending());
        drop(last);
        assert!(matches!(
            next.as_mut().poll(&mut cx),
            std::task::Poll::Ready(Err(_))
        ));
    }

    #[test]
    fn a_quiet_pair_is_forgotten_after_the_window() {
        let (t, clock) = throttle();
        for _ in 0..=DEFAULT_FREE_FAILURES {
            fail(&t, "a@example.com", ip(1)).unwrap();
        }
        clock.advance(DEFAULT_ACCOUNT_WINDOW);
        for _ in 0..=DEFAULT_FREE_FAILURES {
            fail(&t, "a@example.com", ip(1)).unwrap();
        }
    }

    #[test]
    fn the_account_ceiling_spans_addresses_and_lifts_as_failures_age() {
        let (t, clock) = throttle();
        // 100 failures from 25 addresses, one a minute… of which the first at t = 0.
        for i in 0..DEFAULT_ACCOUNT_LIMIT {
            fail(&t, "a@example.com", ip((i % 25) as u8)).unwrap();
            clock.advance(Duration::from_secs(30));
        }
        // Now t = 50 min: locked from everywhere until the first failure is an hour old, an
        // address without failures of its own included.
        assert_eq!(fail(&t, "a@example.com", ip(200)), Err(Duration::from_secs(600)));
        assert_eq!(
            fail(&t, "A@example.com", Client::Unknown),
            Err(Duration::from_secs(600))
        );
        fail(&t, "b@example.com", ip(200)).unwrap();
        clock.advance(Duration::from_secs(600));
        fail(&t, "a@example.com", ip(200)).unwrap();
        // The window is full again: the next slot opens when the second failure is an hour old.
        assert_eq!(fail(&t, "a@example.com", ip(201)), Err(Duration::from_secs(30)));
    }

    #[test]
    fn trusted_addresses_pass_the_ceiling_but_not_their_own_backoff() {
        let (t, clock) = throttle();
        begin(&t, "a@example.com", ip(7)).unwrap().succeeded();
        clock.advance(Duration::from_secs(3600 * 24));
        for i in 0..DEFAULT_ACCOUNT_LIMIT {
            fail(&t, "a@example.com", ip(100 + (i % 50) as u8)).unwrap();
        }
        assert!(fail(&t, "a@example.com", ip(8)).is_err());
        begin(&t, "a@example.com", ip(7)).unwrap().succeeded();
        // …until the trust expires.
        clock.advance(DEFAULT_TRUST_FOR);
        for i in 0..DEFAULT_ACCOUNT_LIMIT {
            fail(&t, "a@example.com", ip(100 + (i % 50) as u8)).unwrap();
        }
        assert!(fail(&t, "a@example.com", ip(7)).is_err());
    }

    #[test]
    fn the_unknown_address_is_never_trusted() {
        let (t, _) = throttle();
        begin(&t, "a@example.com", Client::Unknown).unwrap().succeeded();
        for i in 0..DEFAULT_ACCOUNT_LIMIT {
            fail(&t, "a@example.com", ip(i as u8)).unwrap();
        }
        assert!(fail(&t, "a@example.com", Client::Unknown).is_err());
    }

    #[test]
    fn email_requests_are_limited_per_email_and_route() {
        let (t, clock) = throttle();
        for _ in 0..DEFAULT_EMAIL_LIMIT {
            t.email_request(MailRoute::ForgotPassword, "a@example.com")
                .unwrap();
            clock.advance(Duration::from_secs(60));
        }
        assert_eq!(
            t.email_request(MailRoute::ForgotPassword, "A@EXAMPLE.COM"),
            Err(Duration::from_secs(12 * 60))
        );
        t.email_request(MailRoute::RequestVerify, "a@example.com")
            .unwrap();
        t.email_request(MailRoute::ForgotPassword, "b@example.com")
            .unwrap();
        clock.advance(Duration::from_secs(12 * 60));
        t.email_request(MailRoute::ForgotPassword, "a@example.com")
            .unwrap();
        assert!(
            t.email_request(MailRoute::ForgotPassword, "a@example.com")
                .is_err()
        );
    }

    #[test]
    fn disabled_throttles_nothing() {
        let t = Throttle::disabled();
        for _ in 0..1000 {
            fail(&t, "a@example.com", ip(1)).unwrap();
            t.email_request(MailRoute::ForgotPassword, "a@example.com")
                .unwrap();
        }
        let (t, _) = throttle();
        let t = t
            .account_limit(0, DEFAULT_ACCOUNT_WINDOW)
            .email_limit(0, DEFAULT_EMAIL_WINDOW);
        for i in 0..1000 {
            fail(&t, "a@example.com", ip((i % 200) as u8)).unwrap();
            t.email_request(MailRoute::ForgotPassword, "a@example.com")
                .unwrap();
        }
    }

    #[test]
    fn memory_stays_bounded_under_many_emails() {
        let (t, clock) = throttle();
        let t = t.max_tracked(1000);
        // One failure per email, each from an address of its own.
        let from = |i: u32| Client::Ip(IpAddr::V4(std::net::Ipv4Addr::from_bits((10 << 24) | i)));
        for i in 0..10_000 {
            let email = format!("user{i}@example.com");
            fail(&t, &email, from(i)).unwrap();
            t.email_request(MailRoute::ForgotPassword, &email).unwrap();
            clock.advance(Duration::from_millis(1));
        }
        let s = t.state.lock().unwrap();
        for len in [s.pairs.len(), s.accounts.len(), s.addresses.len(), s.forgot.len()] {
            assert!(len <= 1000, "{len} entries");
        }
        // The most recent survive.
        assert!(
            s.pairs
                .contains_key(&(digest("user9999@example.com"), from(9999)))
        );
        assert!(s.addresses.contains_key(&from(9999)));
        drop(s);
        // Expired entries are swept.
        clock.advance(DEFAULT_ACCOUNT_WINDOW + Duration::from_secs(61));
        fail(&t, "late@example.com", ip(1)).unwrap();
        let s = t.state.lock().unwrap();
        assert_eq!(
            (s.pairs.len(), s.accounts.len(), s.addresses.len(), s.forgot.len()),
            (1, 1, 1, 0)
        );
    }

    #[test]
    fn the_address_budget_spans_accounts_and_lifts_as_failures_age() {
        let (t, clock) = throttle();
        // One failure on each of 20 accounts, one every 10 s.
        for i in 0..DEFAULT_ADDRESS_LIMIT {
            fail(&t, &format!("user{i}@example.com"), ip(1)).unwrap();
            clock.advance(Duration::from_secs(10));
        }
        // Now t = 200 s: every account is refused from that address until the first failure is
        // 10 minutes old; other addresses are not.
        for email in ["new@example.com", "user0@example.com"] {
            assert_eq!(fail(&t, email, ip(1)), Err(Duration::from_secs(400)));
        }
        assert!(fail(&t, "new@example.com", Client::Ip("192.0.2.1".parse().unwrap())).is_err());
        fail(&t, "new@example.com", ip(2)).unwrap();
        // A refused attempt is not counted: the window slides on the counted ones.
        clock.advance(Duration::from_secs(400));
        fail(&t, "new@example.com", ip(1)).unwrap();
        assert_eq!(fail(&t, "newer@example.com", ip(1)), Err(Duration::from_secs(10)));
    }

    #[test]
    fn the_address_budget_spares_the_accounts_that_trust_the_address() {
        let (t, _) = throttle();
        begin(&t, "owner@example.com", ip(1)).unwrap().succeeded();
        for i in 0..DEFAULT_ADDRESS_LIMIT {
            fail(&t, &format!("user{i}@example.com"), ip(1)).unwrap();
        }
        assert!(fail(&t, "user0@example.com", ip(1)).is_err());
        begin(&t, "owner@example.com", ip(1)).unwrap().succeeded();
        // Their own failures do not count against the address either.
        let (t, _) = throttle();
        begin(&t, "owner@example.com", ip(1)).unwrap().succeeded();
        for _ in 0..DEFAULT_FREE_FAILURES {
            fail(&t, "owner@example.com", ip(1)).unwrap();
        }
        for i in 0..DEFAULT_ADDRESS_LIMIT {
            fail(&t, &format!("user{i}@example.com"), ip(1)).unwrap();
        }
    }

    #[test]
    fn the_address_budget_leaves_the_unknown_address_alone() {
        // Without client addresses every client shares one: a budget there would lock everyone.
        let (t, _) = throttle();
        for i in 0..10 * DEFAULT_ADDRESS_LIMIT {
            fail(&t, &format!("user{i}@example.com"), Client::Unknown).unwrap();
        }
    }

    #[test]
    fn concurrent_guesses_from_one_address_wait_their_turn_and_for_the_budget() {
        let (t, _) = throttle();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let held: Vec<_> = (0..ADDRESS_IN_FLIGHT)
            .map(|i| begin(&t, &format!("user{i}@example.com"), ip(1)).unwrap())
            .collect();
        // A third account from that address waits for a slot; another address does not.
        let mut next = std::pin::pin!(t.login("another@example.com", ip(1)));
        assert!(next.as_mut().poll(&mut cx).is_pending());
        begin(&t, "another@example.com", ip(2)).unwrap().succeeded();
        let mut held = held.into_iter();
        drop(held.next());
        match next.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(attempt)) => drop(attempt),
            _ => panic!("the waiting attempt does not go"),
        }
        drop(held);
        // 3 failures so far; 16 more, then one in flight: if it fails the budget is spent, so
        // the next waits for it (below the slots' limit), then is throttled.
        for i in 0..16 {
            fail(&t, &format!("more{i}@example.com"), ip(1)).unwrap();
        }
        let last = begin(&t, "last@example.com", ip(1)).unwrap();
        let mut after = std::pin::pin!(t.login("after@example.com", ip(1)));
        assert!(after.as_mut().poll(&mut cx).is_pending());
        drop(last);
        match after.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Err(wait)) => assert_eq!(wait, DEFAULT_ADDRESS_WINDOW),
            _ => panic!("the waiting attempt is not throttled"),
        }
    }

    #[test]
    fn the_address_budget_is_tunable() {
        let (t, clock) = throttle();
        let t = t.address_limit(2, Duration::from_secs(60));
        fail(&t, "a@example.com", ip(1)).unwrap();
        fail(&t, "b@example.com", ip(1)).unwrap();
        assert_eq!(fail(&t, "c@example.com", ip(1)), Err(Duration::from_secs(60)));
        clock.advance(Duration::from_secs(60));
        fail(&t, "c@example.com", ip(1)).unwrap();
        let t = t.address_limit(0, Duration::from_secs(60));
        for i in 0..100 {
            fail(&t, &format!("user{i}@example.com"), ip(1)).unwrap();
        }
    }

    #[test]
    fn addresses_are_bucketed() {
        let t = Throttle::default();
        let peer = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        let none = HeaderMap::new();
        assert_eq!(t.client(peer("192.0.2.1:5000"), &none), ip(1));
        assert_eq!(t.client(peer("[::ffff:192.0.2.1]:5000"), &none), ip(1));
        assert_eq!(
            t.client(peer("[2001:db8:1:2:3:4:5:6]:1"), &none),
            t.client(peer("[2001:db8:1:2:ffff::]:2"), &none)
        );
        assert_ne!(
            t.client(peer("[2001:db8:1:2::]:1"), &none),
            t.client(peer("[2001:db8:1:3::]:1"), &none)
        );
        assert_eq!(t.client(None, &none), Client::Unknown);

        let mut forwarded = HeaderMap::new();
        forwarded.append("x-forwarded-for", "203.0.113.9, 192.0.2.50".parse().unwrap());
        forwarded.append("x-forwarded-for", "192.0.2.60".parse().unwrap());
        // Ignored by default.
        assert_eq!(t.client(peer("192.0.2.1:1"), &forwarded), ip(1));
        let one = Throttle::default().trusted_proxies(1);
        assert_eq!(one.client(peer("192.0.2.1:1"), &forwarded), ip(60));
        let two = Throttle::default().trusted_proxies(2);
        assert_eq!(two.client(peer("192.0.2.1:1"), &forwarded), ip(50));
        let four = Throttle::default().trusted_proxies(4);
        assert_eq!(four.client(peer("192.0.2.1:1"), &forwarded), ip(1));
        assert_eq!(one.client(peer("192.0.2.1:1"), &none), ip(1));
    }
}
