//! Where a [`Throttle`](super::Throttle) reads the time.

use std::time::Instant;

/// Where a [`Throttle`](super::Throttle) reads the time: the system's monotonic clock, or a clock
/// of your own in tests.
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
