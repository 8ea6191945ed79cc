//! Password hashing: argon2id at OWASP's parameters for new hashes; argon2 (any parameters) and
//! bcrypt verified, and re-hashed to ours on a successful login. Runs off the async runtime, a
//! bounded number at a time.

use std::sync::{Arc, LazyLock};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::loader::BoxError;

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
/// use login_runtime::users::password;
///
/// let hash = password::hash("guinevere").unwrap();
/// assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
/// assert_eq!(password::verify("guinevere", &hash), password::Verified::Yes);
/// ```
pub fn hash(password: &str) -> Result<String, BoxError> {
    Ok(argon2()
        .hash_password(password.as_bytes())
        .map_err(|e| format!("argon2: {e}"))?
        .to_string())
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
/// use login_runtime::users::password::{self, Verified};
///
/// let bcrypt = bcrypt::hash("lancelot", 4).unwrap();
/// assert_eq!(password::verify("lancelot", &bcrypt), Verified::Outdated);
/// assert_eq!(password::verify("arthur", &bcrypt), Verified::No);
/// let ours = password::hash("lancelot").unwrap();
/// assert_eq!(password::verify("lancelot", &ours), Verified::Yes);
/// ```
pub fn verify(password: &str, stored: &str) -> Verified {
    let ok = if stored.starts_with("$argon2") {
        PasswordHash::new(stored).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
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
#[derive(Clone, Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
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
        Self {
            permits: Arc::new(Semaphore::new(limit.max(1))),
        }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, BoxError> {
        let _permit = self.permits.acquire().await?;
        Ok(tokio::task::spawn_blocking(work).await?)
    }

    /// [`hash`], off the runtime.
    pub async fn hash(&self, password: &str) -> Result<String, BoxError> {
        let password = password.to_owned();
        self.run(move || hash(&password)).await?
    }

    /// [`verify`], off the runtime.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified, BoxError> {
        let (password, stored) = (password.to_owned(), stored.to_owned());
        self.run(move || verify(&password, &stored)).await
    }

    /// The work of a failed verification, for a login whose email is unknown.
    pub async fn verify_nothing(&self, password: &str) -> Result<(), BoxError> {
        let password = password.to_owned();
        self.run(move || {
            let _ = verify(&password, &DUMMY_HASH);
        })
        .await
    }
}

#[cfg(test)]
mod tests {
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
