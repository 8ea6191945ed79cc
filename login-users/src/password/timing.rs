//! Equal timing of failed logins when stored hashes have other parameters (users migrated from
//! FastAPI Users keep pwdlib's argon2id m=65536,t=3,p=4 or bcrypt-12 hashes until their next
//! successful login, and verifying those costs 5–10 times ours).
//!
//! Nothing makes verifying an expensive stored hash cheaper, and the plaintext is unknown until
//! its owner logs in. What hides which accounts exist is that every *failed* login costs the
//! same: the answer to an unknown email, to a wrong password on our hash and to a wrong password
//! on another hash is held back (a sleep, not hashing) until the cost of the most expensive kind
//! of hash still present in the store has elapsed. So:
//! - The kinds present, and how many of each, come from the store's
//!   [`hash_census`](crate::UserStore::hash_census) (one aggregate query), before the
//!   first login is answered and again every [`CENSUS_EVERY`], or sooner once the last known
//!   hash of a kind has been upgraded. A kind met in a login that the census did not list is
//!   added at once. A store that cannot tell is taken to hold FastAPI Users' defaults (pwdlib's
//!   argon2id and bcrypt-12): the safe side.
//! - What each kind costs is measured on this machine (the median of three interleaved runs),
//!   once per kind; how much slower (or faster) than measured verifications run now, the load,
//!   is followed as a moving average over all of them (a loaded machine slows every kind
//!   alike).
//! - A failed verification is answered when the most expensive present kind would be done at
//!   the current load (the larger of its own and the machine's), plus [`HOLD_SPREAD`] times the
//!   mean deviation of its own recent verifications (at least [`HOLD_MARGIN`] × its cost), after it
//!   started, or when it ends if it took longer: the same moment whatever its kind, the most
//!   expensive kind's own failures included. The answer of a failure depends on the load, not
//!   on which account was tried.
//! - With only our own kind present, nothing is held back: the timing of an app without
//!   migrated hashes does not change. Successful logins are never held back.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};

use super::{
    ARGON2_M_COST, ARGON2_P_COST, ARGON2_T_COST, DUMMY_HASH, Hasher, Memory, Verified, argon2_in, verify_in,
};
use login_runtime::BoxError;

/// How often the census of stored hash kinds is taken again.
pub const CENSUS_EVERY: Duration = Duration::from_secs(10 * 60);

/// Runs per kind when measuring what a verification costs.
const MEASURE_ROUNDS: usize = 3;

/// Failures are held to at least this multiple of the most expensive kind's cost at the current
/// load.
pub const HOLD_MARGIN: f64 = 1.05;

/// …and to its cost at the current load plus this many times the mean deviation of its recent
/// verifications, so that the most expensive kind's own failures, which spread around its cost
/// (more on a busy machine), are held too.
pub const HOLD_SPREAD: f64 = 3.0;

/// The weight of each verification in the moving averages of the load.
const LOAD_WEIGHT: f64 = 0.1;

/// How much slower than measured verifications run: a moving average and mean deviation.
#[derive(Debug, Clone, Copy)]
struct Load {
    mean: f64,
    deviation: f64,
}

impl Load {
    /// The load before anything is observed: as measured, give or take 10%.
    const MEASURED: Self = Self {
        mean: 1.0,
        deviation: 0.1,
    };

    fn observe(&mut self, ratio: f64) {
        self.deviation += LOAD_WEIGHT * ((ratio - self.mean).abs() - self.deviation);
        self.mean += LOAD_WEIGHT * (ratio - self.mean);
    }

    /// The multiple of the measured cost a failure is held to.
    fn hold(self) -> f64 {
        (self.mean + HOLD_SPREAD * self.deviation).max(self.mean * HOLD_MARGIN)
    }

    /// A kind's load (`own`, if it was observed) with the machine's mean as a floor: a kind
    /// rarely verified may not have seen the latest change. Its spread is its own (short
    /// verifications spread more, and would hold everything longer than needed).
    fn of_kind(own: Option<&Self>, machine: Self) -> Self {
        own.map_or(machine, |own| Self {
            mean: own.mean.max(machine.mean),
            deviation: own.deviation,
        })
    }
}

/// The prefix of a stored hash that fixes what verifying it costs: algorithm and parameters, up
/// to the salt (`$argon2id$v=19$m=65536,t=3,p=4$`, `$2b$12$`); empty for anything else. The
/// SQL stores compute the same prefix in their census query.
///
/// ```
/// use login_users::password::hash_prefix;
///
/// assert_eq!(hash_prefix("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"), "$argon2id$v=19$m=65536,t=3,p=4$");
/// assert_eq!(hash_prefix("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"), "$2b$12$");
/// assert_eq!(hash_prefix("plain"), "");
/// ```
pub fn hash_prefix(stored: &str) -> &str {
    if stored.starts_with("$argon2")
        && let Some(m) = stored.find("$m=")
        && let Some(end) = stored[m + 1..].find('$')
    {
        return &stored[..m + 1 + end + 1];
    }
    let bytes = stored.as_bytes();
    if bytes.len() >= 7 && bytes[0] == b'$' && bytes[1] == b'2' && bytes[3] == b'$' && bytes[6] == b'$' {
        return &stored[..7];
    }
    ""
}

/// What verifying a stored hash costs depends on this alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HashKind {
    /// argon2 (`variant`: 0 d, 1 i, 2 id) with these parameters.
    Argon2 {
        variant: u8,
        version: u32,
        m: u32,
        t: u32,
        p: u32,
    },
    /// bcrypt at this cost.
    Bcrypt { cost: u32 },
    /// Anything else: refused without work.
    Unreadable,
}

/// pwdlib's argon2id defaults (FastAPI Users' `PasswordHelper`).
const PWDLIB_ARGON2: HashKind = HashKind::Argon2 {
    variant: 2,
    version: 0x13,
    m: 65_536,
    t: 3,
    p: 4,
};

/// bcrypt at FastAPI Users' cost.
const BCRYPT_12: HashKind = HashKind::Bcrypt { cost: 12 };

impl HashKind {
    /// Ours: argon2id v19 at OWASP's parameters.
    pub(crate) const OURS: Self = Self::Argon2 {
        variant: 2,
        version: 0x13,
        m: ARGON2_M_COST,
        t: ARGON2_T_COST,
        p: ARGON2_P_COST,
    };

    /// The kind of a stored hash, or of its [`hash_prefix`].
    pub(crate) fn of(stored: &str) -> Self {
        let parts: Vec<&str> = stored.split('$').collect();
        match parts.get(1).copied() {
            Some(name @ ("argon2d" | "argon2i" | "argon2id")) => {
                let variant = match name {
                    "argon2d" => 0,
                    "argon2i" => 1,
                    _ => 2,
                };
                let (version, at) = match parts.get(2).and_then(|v| v.strip_prefix("v=")) {
                    Some(v) => (v.parse().ok(), 3),
                    None => (Some(0x13), 2),
                };
                let mut params = (None, None, None);
                for pair in parts.get(at).map_or("", |p| *p).split(',') {
                    match pair.split_once('=') {
                        Some(("m", v)) => params.0 = v.parse().ok(),
                        Some(("t", v)) => params.1 = v.parse().ok(),
                        Some(("p", v)) => params.2 = v.parse().ok(),
                        _ => {}
                    }
                }
                match (version, params) {
                    (Some(version), (Some(m), Some(t), Some(p)))
                        if Version::try_from(version).is_ok() && Params::new(m, t, p, None).is_ok() =>
                    {
                        Self::Argon2 {
                            variant,
                            version,
                            m,
                            t,
                            p,
                        }
                    }
                    _ => Self::Unreadable,
                }
            }
            Some("2a" | "2b" | "2y") => match parts.get(2).and_then(|c| c.parse().ok()) {
                Some(cost @ 4..=31) => Self::Bcrypt { cost },
                _ => Self::Unreadable,
            },
            _ => Self::Unreadable,
        }
    }

    /// One verification's worth of work of this kind, in `memory` when the parameters are ours.
    fn work(self, memory: &mut Memory) {
        let password = uuid::Uuid::new_v4().to_string();
        match self {
            Self::Argon2 {
                variant,
                version,
                m,
                t,
                p,
            } => {
                let algorithm = match variant {
                    0 => Algorithm::Argon2d,
                    1 => Algorithm::Argon2i,
                    _ => Algorithm::Argon2id,
                };
                let (Ok(version), Ok(params)) = (Version::try_from(version), Params::new(m, t, p, None))
                else {
                    return;
                };
                let mut out = [0; Params::DEFAULT_OUTPUT_LEN];
                let _ = argon2_in(
                    &Argon2::new(algorithm, version, params),
                    &password,
                    &[0; 16],
                    &mut out,
                    memory,
                );
            }
            Self::Bcrypt { cost } => {
                let _ = bcrypt::hash_with_salt(&password, cost, [0; 16]);
            }
            Self::Unreadable => {}
        }
    }
}

/// When a failed login may be answered: `None` at once.
#[derive(Debug, Clone, Copy)]
#[must_use = "a failure must wait for its hold before it is answered"]
pub(crate) struct Hold(Option<Instant>);

impl Hold {
    /// Waits until the failure may be answered.
    pub(crate) async fn wait(self) {
        if let Some(until) = self.0 {
            tokio::time::sleep_until(until.into()).await;
        }
    }
}

/// The kinds of stored hashes and what verifying each costs here. Shared by a [`Hasher`]'s
/// clones.
#[derive(Debug, Default)]
pub(crate) struct Timing {
    book: Mutex<Book>,
    /// Held while a census is taken, so that one runs at a time.
    census: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Book {
    /// How many stored hashes of each kind; `None` before the first census.
    present: Option<HashMap<HashKind, u64>>,
    /// The measured cost of verifying each kind.
    cost: HashMap<HashKind, Duration>,
    /// When the census was taken.
    taken: Option<Instant>,
    /// The census is known to be out of date (the last known hash of a kind was upgraded).
    stale: bool,
    /// How much longer than measured verifications take now, over all kinds.
    load: Load,
    /// The same per kind (kinds load a busy machine differently: argon2 its memory, bcrypt its
    /// cores).
    kind_load: HashMap<HashKind, Load>,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            present: None,
            cost: HashMap::new(),
            taken: None,
            stale: false,
            load: Load::MEASURED,
            kind_load: HashMap::new(),
        }
    }
}

impl Book {
    fn due(&self) -> bool {
        self.stale || self.taken.is_none_or(|t| t.elapsed() >= CENSUS_EVERY)
    }

    /// Whether any kind other than ours is present (then failures are held back).
    fn foreign(&self) -> bool {
        self.present
            .as_ref()
            .is_some_and(|p| p.iter().any(|(k, &n)| n > 0 && *k != HashKind::OURS))
    }

    /// Counts a verification of `kind` that took `took` into the load.
    fn observe(&mut self, kind: HashKind, took: Duration) {
        if let Some(cost) = self.cost.get(&kind).filter(|c| !c.is_zero()) {
            let ratio = took.as_secs_f64() / cost.as_secs_f64();
            self.load.observe(ratio);
            self.kind_load
                .entry(kind)
                .or_insert(Load::MEASURED)
                .observe(ratio);
        }
    }

    /// How long after its start a failed verification is answered; `None`: at once.
    fn target(&self) -> Option<Duration> {
        if !self.foreign() {
            return None;
        }
        let present = self.present.as_ref()?;
        // How long each kind present may take now: measured, times its hold.
        present
            .iter()
            .filter(|&(_, &n)| n > 0)
            .map(|(k, _)| k)
            .chain([&HashKind::OURS])
            .filter_map(|k| {
                let hold = Load::of_kind(self.kind_load.get(k), self.load).hold();
                Some(self.cost.get(k)?.mul_f64(hold))
            })
            .max()
    }
}

/// The kinds of a census, summed by kind.
fn tally(rows: Vec<(String, u64)>) -> HashMap<HashKind, u64> {
    let mut present = HashMap::new();
    for (prefix, count) in rows {
        *present.entry(HashKind::of(&prefix)).or_insert(0) += count;
    }
    present
}

impl Timing {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Hasher {
    /// Takes the census of the stored hash kinds if it is due, and measures the kinds not
    /// measured yet. The first caller waits for it (and others with it); later refreshes are
    /// made by one caller while the others go on with what is known.
    ///
    /// `census` asks the store (its
    /// [`hash_census`](crate::UserStore::hash_census): the number of stored hashes per
    /// [`hash_prefix`](super::hash_prefix), `None` when it cannot tell); it is called only when
    /// the census is due. A closure rather than the store: hashing sits below the stores, and the
    /// operations, which own the store, pass it in.
    pub(crate) async fn take_census<F, E>(&self, census: impl FnOnce() -> F)
    where
        F: Future<Output = Result<Option<Vec<(String, u64)>>, E>>,
        E: std::fmt::Display,
    {
        let (due, first) = {
            let book = self.timing.book();
            (book.due(), book.present.is_none())
        };
        if !due {
            return;
        }
        let _census = if first {
            self.timing.census.lock().await
        } else {
            match self.timing.census.try_lock() {
                Ok(guard) => guard,
                Err(_) => return,
            }
        };
        if !self.timing.book().due() {
            return;
        }
        let present = match census().await {
            Ok(Some(rows)) => tally(rows),
            Ok(None) => {
                tracing::warn!(
                    "the user store does not say which password hash kinds it holds \
                     (UserStore::hash_census): failed logins are answered as late as a \
                     FastAPI Users hash (pwdlib argon2id, bcrypt-12) would take"
                );
                HashMap::from([(PWDLIB_ARGON2, 1), (BCRYPT_12, 1)])
            }
            Err(error) => {
                tracing::warn!(%error, "the census of stored password hash kinds failed");
                let mut book = self.timing.book();
                if book.present.is_some() {
                    book.taken = Some(Instant::now());
                    return;
                }
                HashMap::from([(PWDLIB_ARGON2, 1), (BCRYPT_12, 1)])
            }
        };
        let unmeasured: Vec<HashKind> = {
            let book = self.timing.book();
            let foreign = present.iter().any(|(k, &n)| n > 0 && *k != HashKind::OURS);
            present
                .iter()
                .filter(|&(_, &n)| n > 0)
                .map(|(k, _)| *k)
                .chain(foreign.then_some(HashKind::OURS))
                .filter(|k| *k != HashKind::Unreadable && !book.cost.contains_key(k))
                .collect()
        };
        let measured = if unmeasured.is_empty() {
            Vec::new()
        } else {
            self.measure(unmeasured).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "measuring password hash costs failed");
                Vec::new()
            })
        };
        let mut book = self.timing.book();
        book.cost.extend(measured);
        book.present = Some(present);
        book.taken = Some(Instant::now());
        book.stale = false;
    }

    /// The median cost of verifying each of `kinds` here, runs interleaved.
    async fn measure(&self, kinds: Vec<HashKind>) -> Result<Vec<(HashKind, Duration)>, BoxError> {
        self.run(move |memory| {
            let mut runs: Vec<Vec<Duration>> = vec![Vec::new(); kinds.len()];
            for _ in 0..MEASURE_ROUNDS {
                for (kind, runs) in kinds.iter().zip(&mut runs) {
                    let started = Instant::now();
                    kind.work(memory);
                    runs.push(started.elapsed());
                }
            }
            kinds
                .iter()
                .zip(runs)
                .map(|(kind, mut runs)| {
                    runs.sort_unstable();
                    (*kind, runs[runs.len() / 2])
                })
                .collect()
        })
        .await
    }

    /// Verifies a login's password against `stored` (an unknown email: `None`, verified against
    /// a dummy hash of ours), after the [`census`](Self::take_census) if it is due. Returns the
    /// [`Hold`] a failure of this login must wait for before it is answered.
    pub(crate) async fn verify_login<F, E>(
        &self,
        census: impl FnOnce() -> F,
        password: &str,
        stored: Option<&str>,
    ) -> Result<(Verified, Hold), BoxError>
    where
        F: Future<Output = Result<Option<Vec<(String, u64)>>, E>>,
        E: std::fmt::Display,
    {
        self.take_census(census).await;
        let kind = stored.map_or(HashKind::OURS, HashKind::of);
        let password = password.to_owned();
        let stored = stored.unwrap_or(&DUMMY_HASH).to_owned();
        let (verified, started, took) = self
            .run(move |memory| {
                let started = Instant::now();
                let verified = verify_in(&password, &stored, memory);
                (verified, started, started.elapsed())
            })
            .await?;
        let mut book = self.timing.book();
        if let Some(present) = &mut book.present
            && present.get(&kind).is_none_or(|&n| n == 0)
        {
            // A kind the census did not list (stored since): count it, and take its cost from
            // this run until it is measured.
            present.insert(kind, 1);
            if kind != HashKind::Unreadable {
                book.cost.entry(kind).or_insert(took);
            }
            if kind != HashKind::OURS {
                book.stale = true;
            }
        }
        book.observe(kind, took);
        let hold = book.target().map(|t| started + t);
        Ok((verified, Hold(hold)))
    }

    /// A stored hash was replaced with one of ours: one fewer of its kind. Once none is known
    /// left, the census is taken again before the next login (the store has the last word).
    pub(crate) fn upgraded(&self, old: &str) {
        let kind = HashKind::of(old);
        let mut book = self.timing.book();
        let Some(present) = &mut book.present else { return };
        let left = present.get(&kind).copied().unwrap_or(0);
        if left <= 1 {
            book.stale = true;
        } else {
            present.insert(kind, left - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn book(present: &[(HashKind, u64)]) -> Book {
        Book {
            present: Some(present.iter().copied().collect()),
            cost: HashMap::from([
                (HashKind::OURS, ms(30)),
                (PWDLIB_ARGON2, ms(150)),
                (BCRYPT_12, ms(200)),
            ]),
            taken: Some(Instant::now()),
            ..Book::default()
        }
    }

    #[test]
    fn kinds_are_read_from_hashes_and_prefixes() {
        let pwdlib = "$argon2id$v=19$m=65536,t=3,p=4$hGmhwilI+fZrcEzTCdZlBQ$tlobEqhrd52rsp284wnxrpyHxmKJot2sAVKGdUT0FKI";
        assert_eq!(HashKind::of(pwdlib), PWDLIB_ARGON2);
        assert_eq!(HashKind::of(hash_prefix(pwdlib)), PWDLIB_ARGON2);
        let ours = crate::password::hash("pw").unwrap();
        assert_eq!(HashKind::of(&ours), HashKind::OURS);
        assert_eq!(HashKind::of(hash_prefix(&ours)), HashKind::OURS);
        let bcrypt = bcrypt::hash("pw", 4).unwrap();
        assert_eq!(HashKind::of(&bcrypt), HashKind::Bcrypt { cost: 4 });
        assert_eq!(hash_prefix(&bcrypt), &bcrypt[..7]);
        assert_eq!(
            HashKind::of("$argon2i$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaA"),
            HashKind::Argon2 {
                variant: 1,
                version: 0x13,
                m: 4096,
                t: 3,
                p: 1
            }
        );
        for bad in [
            "",
            "plain",
            "$argon2id$v=19$",
            "$argon2id$v=7$m=1,t=1,p=1$",
            "$2b$99$x",
            "$pbkdf2$1$a$b",
        ] {
            assert_eq!(HashKind::of(bad), HashKind::Unreadable, "{bad}");
        }
    }

    #[test]
    fn nothing_is_held_back_without_foreign_hashes() {
        for present in [
            &[][..],
            &[(HashKind::OURS, 10)],
            &[(HashKind::OURS, 10), (PWDLIB_ARGON2, 0)],
        ] {
            let mut book = book(present);
            book.observe(HashKind::OURS, ms(90));
            assert_eq!(book.target(), None);
        }
    }

    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) < Duration::from_micros(10)
    }

    #[test]
    fn failures_are_held_to_the_most_expensive_kind_present_at_the_current_load() {
        let measured = Load::MEASURED.hold();
        assert!((measured - 1.3).abs() < 1e-9, "{measured}");
        let mut book = book(&[(HashKind::OURS, 10), (PWDLIB_ARGON2, 3)]);
        assert!(close(book.target().unwrap(), ms(150).mul_f64(measured)));
        // bcrypt-12 present too: the maximum is its cost.
        book.present.as_mut().unwrap().insert(BCRYPT_12, 1);
        assert!(close(book.target().unwrap(), ms(200).mul_f64(measured)));
        // Verifications running steadily twice as slow as measured: the load follows, whatever
        // the kind, and the margin shrinks to its floor.
        for _ in 0..200 {
            book.observe(HashKind::OURS, ms(60));
            book.observe(PWDLIB_ARGON2, ms(300));
        }
        assert!((book.load.mean - 2.0).abs() < 0.01, "{:?}", book.load);
        assert!(book.load.deviation < 0.01, "{:?}", book.load);
        assert!(close(book.target().unwrap(), ms(200).mul_f64(2.0 * HOLD_MARGIN)));
        // bcrypt slowed down three times on its own, unevenly: its load and spread count.
        for i in 0..200 {
            book.observe(BCRYPT_12, ms(if i % 2 == 0 { 500 } else { 700 }));
        }
        let bcrypt = book.kind_load[&BCRYPT_12];
        assert!(
            (bcrypt.mean - 3.0).abs() < 0.2 && bcrypt.deviation > 0.4,
            "{bcrypt:?}"
        );
        assert!(book.target().unwrap() > ms(200).mul_f64(3.0 + 2.0 * 0.4));
        // Unreadable hashes cost nothing and do not move the load.
        let load = book.load.mean;
        book.observe(HashKind::Unreadable, ms(0));
        assert_eq!(book.load.mean, load);
    }

    #[test]
    fn census_rows_are_tallied_by_kind() {
        let present = tally(vec![
            ("$argon2id$v=19$m=65536,t=3,p=4$".into(), 2),
            ("$2b$12$".into(), 1),
            ("$2y$12$".into(), 4),
            ("".into(), 1),
        ]);
        assert_eq!(present[&PWDLIB_ARGON2], 2);
        assert_eq!(present[&BCRYPT_12], 5);
        assert_eq!(present[&HashKind::Unreadable], 1);
    }

    #[tokio::test]
    async fn upgrading_the_last_hash_of_a_kind_retakes_the_census() {
        use crate::{MemoryStore, User, UserStore};

        let store = MemoryStore::default();
        let cheap = bcrypt::hash("pw", 4).unwrap();
        let user = store
            .create(User::new("a@example.com", cheap.clone()))
            .await
            .unwrap();
        let hasher = Hasher::with_limit(1);
        let (verified, hold) = hasher
            .verify_login(|| store.hash_census(), "wrong", Some(&cheap))
            .await
            .unwrap();
        assert_eq!(verified, Verified::No);
        // bcrypt-4 is cheaper than ours: the failure is held to our cost.
        assert!(hold.0.is_some());
        let patch = crate::UserPatch {
            hashed_password: Some(crate::password::hash("pw").unwrap()),
            ..Default::default()
        };
        store.update(user.id, &patch).await.unwrap();
        hasher.upgraded(&cheap);
        let (_, hold) = hasher
            .verify_login(|| store.hash_census(), "wrong", None)
            .await
            .unwrap();
        assert!(hold.0.is_none(), "only our hashes are left");
    }
}
