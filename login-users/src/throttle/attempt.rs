//! A login attempt from its start to its outcome: refused at once when throttled, made to wait
//! for the attempts in flight that could throttle it, else counted in flight until it ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::state::digest;
use super::{Client, Throttle};

/// An attempt being checked; dropped as it is, it counts as a failure (a client hanging up
/// mid-check too).
pub(crate) struct LoginAttempt<'a> {
    pub(super) throttle: &'a Throttle,
    /// `None` once ended, or when nothing is throttled.
    pub(super) key: Option<(u128, Client)>,
    /// Whether the address's budget counts it in flight.
    pub(super) budgeted: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
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

/// What [`State::begin`](super::state::State::begin) decided.
pub(super) enum Begin {
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
pub(super) struct Waiters(Option<Arc<Notify>>);

impl Waiters {
    pub(super) fn get(&mut self) -> Arc<Notify> {
        self.0.get_or_insert_with(Default::default).clone()
    }

    pub(super) fn wake(&mut self) {
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

impl Throttle {
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
}
