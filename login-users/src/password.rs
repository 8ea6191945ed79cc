//! Password hashing: argon2id at OWASP's parameters for new hashes; argon2 (any parameters) and
//! bcrypt verified, and re-hashed to ours on a successful login. Runs off the async runtime, a
//! bounded number at a time, in working memory kept from one hash to the next.
//!
//! **Equal timing of failed logins.** Users migrated from FastAPI Users keep pwdlib's argon2id
//! (m=65536, t=3, p=4) or bcrypt-12 hashes, 5–10 times costlier to verify than ours, until they
//! next log in. While the store holds any hash of another kind than ours, every login the
//! routes refuse (unknown email, wrong password on any hash, inactive user) is answered when the
//! costliest present kind's verification would be done (its cost at the current load, plus
//! [`HOLD_SPREAD`] mean deviations, at least [`HOLD_MARGIN`] × that cost) after its own
//! verification started, by sleeping (after the hashing slot is released), not hashing;
//! successes are not delayed. The kinds present come from
//! [`UserStore::hash_census`](crate::UserStore::hash_census) (see [`hash_prefix`]), taken
//! before the first login is answered, every [`CENSUS_EVERY`] and once the last known hash of a
//! kind has been upgraded; a kind met in a login that the census missed is added at once. Each
//! kind's cost is measured on the machine at the census and scaled by a moving average of how
//! much slower than measured verifications run now. With only our own kind present nothing is
//! held back, so an app without migrated hashes keeps its timing.

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use self::timing::Timing;
pub use self::timing::{CENSUS_EVERY, HOLD_MARGIN, HOLD_SPREAD, hash_prefix};
use login_runtime::BoxError;

mod timing;

/// OWASP's argon2id parameters: 19 MiB of memory (in KiB).
pub const ARGON2_M_COST: u32 = 19_456;
/// OWASP's argon2id parameters: two passes.
pub const ARGON2_T_COST: u32 = 2;
/// OWASP's argon2id parameters: one lane.
pub const ARGON2_P_COST: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_COST, ARGON2_T_COST, ARGON2_P_COST, None)
        .expect("OWASP's argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a random password at our parameters: verifying against it costs what a real
/// verification costs, so an unknown email is not told apart by timing.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash(&uuid::Uuid::new_v4().to_string()).expect("hashing a random password"));

/// Hashes a password with argon2id (m=19456, t=2, p=1) into a PHC string. Blocking: tens of
/// milliseconds of CPU.
///
/// ```
/// use login_users::password;
///
/// let hash = password::hash("guinevere").unwrap();
/// assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
/// assert_eq!(password::verify("guinevere", &hash), password::Verified::Yes);
/// ```
pub fn hash(password: &str) -> Result<String, BoxError> {
    hash_in(password, &mut Vec::new())
}

/// argon2's working memory, 1 KiB blocks: 19 MiB at our parameters.
type Memory = Vec<Block>;

/// Runs argon2 with `memory` as its working memory when the parameters are ours (grown to their
/// size once), or with memory of its own for other parameters (outdated hashes), so that `memory`
/// never grows beyond ours.
fn argon2_in(
    hasher: &Argon2<'_>,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Memory,
) -> Result<(), argon2::Error> {
    let blocks = hasher.params().block_count();
    if blocks == argon2().params().block_count() {
        memory.resize(blocks, Block::default());
        hasher.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
    } else {
        hasher.hash_password_into(password.as_bytes(), salt, out)
    }
}

/// [`hash`] in `memory`.
fn hash_in(password: &str, memory: &mut Memory) -> Result<String, BoxError> {
    let argon2 = argon2();
    let salt = argon2::password_hash::try_generate_salt().map_err(|e| format!("random salt: {e}"))?;
    let mut out = [0; Params::DEFAULT_OUTPUT_LEN];
    argon2_in(&argon2, password, &salt, &mut out, memory).map_err(|e| format!("argon2: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| format!("argon2: {e}"))?,
        salt: Some(Salt::new(&salt).map_err(|e| format!("argon2: {e}"))?),
        hash: Some(Output::new(&out).map_err(|e| format!("argon2: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` is that of an argon2 PHC string (any variant, version and parameters), as
/// `argon2`'s own `verify_password` decides it, computed in `memory`. The comparison is
/// constant-time (`Output`'s `==`).
fn verify_argon2_in(password: &str, stored: &str, memory: &mut Memory) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(phc.algorithm.as_str()),
        phc.version.map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&phc),
    ) else {
        return false;
    };
    let mut out = vec![0; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    argon2_in(&argon2, password, salt.as_ref(), &mut out, memory)
        .is_ok_and(|()| Output::new(&out).is_ok_and(|computed| computed == *expected))
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password, or a hash this crate cannot read.
    No,
    /// Right password; the hash is ours.
    Yes,
    /// Right password; the hash is bcrypt or argon2 with other parameters: store a new
    /// [`hash`] of the password.
    Outdated,
}

impl Verified {
    /// Whether the password was right.
    pub fn is_ok(self) -> bool {
        !matches!(self, Self::No)
    }
}

/// Checks `password` against an argon2 PHC string (any variant and parameters) or a bcrypt hash
/// (`$2a$`, `$2b$`, `$2y$`), and tells whether a right password's hash should be replaced. Blocking.
///
/// ```
/// use login_users::password::{self, Verified};
///
/// let bcrypt = bcrypt::hash("lancelot", 4).unwrap();
/// assert_eq!(password::verify("lancelot", &bcrypt), Verified::Outdated);
/// assert_eq!(password::verify("arthur", &bcrypt), Verified::No);
/// let ours = password::hash("lancelot").unwrap();
/// assert_eq!(password::verify("lancelot", &ours), Verified::Yes);
/// ```
pub fn verify(password: &str, stored: &str) -> Verified {
    verify_in(password, stored, &mut Vec::new())
}

/// [`verify`] in `memory`.
fn verify_in(password: &str, stored: &str, memory: &mut Memory) -> Verified {
    let ok = if stored.starts_with("$argon2") {
        verify_argon2_in(password, stored, memory)
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| stored.starts_with(p)) {
        bcrypt::verify(password, stored).unwrap_or(false)
    } else {
        tracing::warn!("a stored password hash is neither argon2 nor bcrypt; the login is refused");
        false
    };
    match (ok, needs_rehash(stored)) {
        (false, _) => Verified::No,
        (true, false) => Verified::Yes,
        (true, true) => Verified::Outdated,
    }
}

/// Whether a stored hash differs from what [`hash`] makes now (bcrypt, argon2i/d, other
/// parameters or version).
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    let ours = parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(0x13)
        && Params::try_from(&parsed).is_ok_and(|p| {
            (p.m_cost(), p.t_cost(), p.p_cost()) == (ARGON2_M_COST, ARGON2_T_COST, ARGON2_P_COST)
        });
    !ours
}

/// Runs hashing off the async runtime, at most `limit` at once, so a burst of logins cannot take
/// every worker thread (or all the memory: each argon2 run holds 19 MiB).
///
/// The 19 MiB are kept for the next hash (at most `limit` of them), never freed: allocated per
/// hash on whichever blocking thread runs it, glibc's malloc keeps the freed blocks in that
/// thread's arena, and a busy server's memory climbed by hundreds of MB (`benches/soak.sh`).
#[derive(Clone, Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    memory: Arc<MemoryPool>,
    /// The kinds of stored hashes and their costs, for holding failed logins back.
    timing: Arc<Timing>,
}

/// Working memories not in use, at most `limit`.
struct MemoryPool {
    idle: Mutex<Vec<Memory>>,
    limit: usize,
}

impl fmt::Debug for MemoryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = self.idle.lock().map_or(0, |idle| idle.len());
        f.debug_struct("MemoryPool")
            .field("idle", &idle)
            .field("limit", &self.limit)
            .finish()
    }
}

impl MemoryPool {
    fn take(&self) -> Memory {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    /// Back to the pool, unless it is full (a hash whose caller went away kept running while
    /// another took its permit).
    fn put(&self, memory: Memory) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.limit {
            idle.push(memory);
        }
    }
}

impl Default for Hasher {
    /// As many at once as the machine has cores.
    fn default() -> Self {
        Self::with_limit(std::thread::available_parallelism().map_or(2, usize::from))
    }
}

impl Hasher {
    /// At most `limit` hashes at once (at least one).
    pub fn with_limit(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            memory: Arc::new(MemoryPool {
                idle: Mutex::new(Vec::new()),
                limit,
            }),
            timing: Arc::default(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, BoxError> {
        let _permit = self.permits.acquire().await?;
        let pool = Arc::clone(&self.memory);
        Ok(tokio::task::spawn_blocking(move || {
            let mut memory = pool.take();
            let result = work(&mut memory);
            pool.put(memory);
            result
        })
        .await?)
    }

    /// [`hash`], off the runtime.
    pub async fn hash(&self, password: &str) -> Result<String, BoxError> {
        let password = password.to_owned();
        self.run(move |memory| hash_in(&password, memory)).await?
    }

    /// [`verify`], off the runtime.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified, BoxError> {
        let (password, stored) = (password.to_owned(), stored.to_owned());
        self.run(move |memory| verify_in(&password, &stored, memory))
            .await
    }

    /// The work of a failed verification, for a login whose email is unknown.
    pub async fn verify_nothing(&self, password: &str) -> Result<(), BoxError> {
        let password = password.to_owned();
        self.run(move |memory| {
            let _ = verify_in(&password, &DUMMY_HASH, memory);
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHasher as _;

    use super::*;

    #[test]
    fn our_hashes_need_no_rehash_others_do() {
        let ours = hash("pw").unwrap();
        assert!(!needs_rehash(&ours));
        let pwdlib = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(65536, 3, 4, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(pwdlib.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"));
        assert!(needs_rehash(&pwdlib));
        assert_eq!(verify("pw", &pwdlib), Verified::Outdated);
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"pw")
            .unwrap()
            .to_string();
        assert_eq!(verify("pw", &argon2i), Verified::Outdated);
        assert_eq!(verify("other", &argon2i), Verified::No);
    }

    #[test]
    fn hashes_in_kept_memory_are_those_of_argon2() {
        let mut memory = Vec::new();
        let first = hash_in("pw", &mut memory).unwrap();
        let second = hash_in("pw", &mut memory).unwrap();
        assert_ne!(first, second, "fresh salts");
        assert_eq!(memory.len(), ARGON2_M_COST as usize, "19 MiB, kept");
        for ours in [&first, &second] {
            assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
            let phc = PasswordHash::new(ours).unwrap();
            assert_eq!(phc.to_string(), *ours);
            argon2::password_hash::PasswordVerifier::verify_password(&argon2(), b"pw", &phc)
                .expect("argon2's own verifier takes it");
            assert_eq!(verify_in("pw", ours, &mut memory), Verified::Yes);
            assert_eq!(verify_in("pW", ours, &mut memory), Verified::No);
        }
        let theirs = argon2().hash_password(b"pw").unwrap().to_string();
        assert_eq!(verify_in("pw", &theirs, &mut memory), Verified::Yes);
        assert_eq!(verify_in("px", &theirs, &mut memory), Verified::No);
        let bigger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32768, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert_eq!(verify_in("pw", &bigger, &mut memory), Verified::Outdated);
        assert_eq!(
            memory.len(),
            ARGON2_M_COST as usize,
            "other parameters use memory of their own"
        );
    }

    #[tokio::test]
    async fn the_hasher_keeps_at_most_limit_memories() {
        let hasher = Hasher::with_limit(2);
        let hashes: Vec<_> = (0..6)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(&format!("password-{i}")).await })
            })
            .collect();
        for h in hashes {
            h.await.unwrap().unwrap();
        }
        let idle = hasher.memory.idle.lock().unwrap().len();
        assert!((1..=2).contains(&idle), "{idle} kept");
    }

    #[test]
    fn bcrypt_variants_verify_and_are_outdated() {
        let b = bcrypt::hash("pw", 4).unwrap();
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let variant = format!("{prefix}{}", &b[4..]);
            assert_eq!(verify("pw", &variant), Verified::Outdated, "{prefix}");
            assert_eq!(verify("nope", &variant), Verified::No);
        }
    }

    #[test]
    fn unreadable_hashes_never_verify() {
        for stored in ["", "plain", "$argon2id$garbage", "$2b$xx", "$pbkdf2-sha256$1$a$b"] {
            assert_eq!(verify("plain", stored), Verified::No, "{stored}");
        }
    }

    #[tokio::test]
    async fn hasher_runs_off_the_runtime() {
        let hasher = Hasher::with_limit(1);
        let h = hasher.hash("secret-pw").await.unwrap();
        assert_eq!(hasher.verify("secret-pw", &h).await.unwrap(), Verified::Yes);
        hasher.verify_nothing("x").await.unwrap();
    }
}
