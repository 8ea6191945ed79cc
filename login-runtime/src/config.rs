//! Building a [`LoginManager`]: the builder and the errors that name the bad setting.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use login_checks::{check_cookie_name, check_cookie_prefix, check_leeway, check_secret, check_token_url};

use crate::codec::{Codec, Keys, Rules};
use crate::cookie::CookiePolicy;
use crate::csrf::CsrfPolicy;
use crate::keys::{KeySet, KeySetError};
use crate::manager::{LoginManager, ManagerParts, TokenReader};
use crate::rejection::{ResponseFn, Responses};
use crate::token::MAX_TOKEN_LEN;

/// The default token lifetime: 15 minutes, as in fastapi-login.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// The largest clock skew accepted as [`leeway`](LoginManagerBuilder::leeway): 10 minutes.
pub const MAX_LEEWAY: Duration = Duration::from_secs(login_checks::MAX_LEEWAY_SECS);

/// A configuration that cannot make a working [`LoginManager`].
///
/// The message names the setting, so a start-up failure says what to change:
///
/// ```
/// let err = login_runtime::LoginManager::builder().secret("too short").build().unwrap_err();
/// assert_eq!(err.setting(), "secret");
/// assert!(err.to_string().contains("at least 32 bytes"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: &'static str,
    problem: String,
}

impl ConfigError {
    /// An error about `setting` (an option name or an environment variable), with what is wrong.
    pub fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        Self {
            setting,
            problem: problem.into(),
        }
    }

    /// The name of the setting that is wrong (`secret`, `token_url`, `cookie`, …).
    pub fn setting(&self) -> &'static str {
        self.setting
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "login manager setting `{}`: {}", self.setting, self.problem)
    }
}

/// The same text as `Display`, so `fn main() -> Result<(), Box<dyn Error>>` prints a readable line.
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ConfigError {}

/// Where the signing key comes from.
#[derive(Clone)]
enum KeySource {
    None,
    Secret(Vec<u8>),
    SecretEnv(String),
    Pem { private: Vec<u8>, public: Vec<u8> },
    KeySet(KeySet),
    KeyFiles(Vec<PathBuf>),
    KeyPems(Vec<Vec<u8>>),
    KeysEnv(String),
}

/// Builds a [`LoginManager`]; every check runs in [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use login_runtime::LoginManager;
///
/// let manager = LoginManager::builder()
///     .secret("a secret of at least thirty-two bytes!")
///     .token_url("/auth/token")
///     .cookie("access-token")
///     .expiry(Duration::from_secs(30 * 60))
///     .build()
///     .unwrap();
/// assert_eq!(manager.token_url(), "/auth/token");
/// ```
#[must_use]
#[derive(Clone)]
pub struct LoginManagerBuilder {
    key: KeySource,
    algorithm: Algorithm,
    /// Whether `algorithm(..)` was called: a key set refuses it rather than ignore it.
    algorithm_set: bool,
    token_url: String,
    header: bool,
    cookie: Option<String>,
    expiry: Duration,
    leeway: Duration,
    issuer: Option<String>,
    audience: Option<String>,
    secure_cookies: bool,
    csrf_check: bool,
    csrf_trusted: Vec<String>,
    max_token_len: usize,
    max_lifetime: Option<Duration>,
    unauthenticated: Option<ResponseFn>,
    forbidden: Option<ResponseFn>,
    reader: Option<Arc<dyn TokenReader>>,
}

impl Default for LoginManagerBuilder {
    fn default() -> Self {
        Self {
            key: KeySource::None,
            algorithm: Algorithm::HS256,
            algorithm_set: false,
            token_url: "/auth/token".to_owned(),
            header: true,
            cookie: None,
            expiry: DEFAULT_EXPIRY,
            leeway: Duration::ZERO,
            issuer: None,
            audience: None,
            secure_cookies: true,
            csrf_check: true,
            csrf_trusted: Vec::new(),
            max_token_len: MAX_TOKEN_LEN,
            max_lifetime: None,
            unauthenticated: None,
            forbidden: None,
            reader: None,
        }
    }
}

impl LoginManager {
    /// A builder with fastapi-login's defaults: header transport, no cookie, HS256, 15 minutes.
    pub fn builder() -> LoginManagerBuilder {
        LoginManagerBuilder::default()
    }
}

impl LoginManagerBuilder {
    /// The HMAC secret (HS256 unless [`algorithm`](Self::algorithm) says otherwise); at least 32 bytes.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.key = KeySource::Secret(secret.as_ref().to_vec());
        self
    }

    /// Reads the HMAC secret from an environment variable when [`build`](Self::build) runs.
    pub fn secret_from_env(mut self, var: impl Into<String>) -> Self {
        self.key = KeySource::SecretEnv(var.into());
        self
    }

    /// PEM keys for an asymmetric [`algorithm`](Self::algorithm) (RS*, PS*, ES256/384, EdDSA).
    pub fn pem_keys(mut self, private_pem: impl AsRef<[u8]>, public_pem: impl AsRef<[u8]>) -> Self {
        self.key = KeySource::Pem {
            private: private_pem.as_ref().to_vec(),
            public: public_pem.as_ref().to_vec(),
        };
        self
    }

    /// A [`KeySet`] instead of one key: its first key signs and writes its `kid`, every key
    /// verifies, [`LoginManager::jwks`] serves their public halves. Each key's algorithm follows
    /// from its type (EdDSA, ES256, RS256); [`build`](Self::build) refuses an
    /// [`algorithm`](Self::algorithm) beside it.
    pub fn key_set(mut self, keys: KeySet) -> Self {
        self.key = KeySource::KeySet(keys);
        self
    }

    /// A key set read from these PEM private key files when [`build`](Self::build) runs, the
    /// signing key first (see [`key_set`](Self::key_set)). The error names the file.
    pub fn private_key_files<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.key = KeySource::KeyFiles(paths.into_iter().map(Into::into).collect());
        self
    }

    /// A key set of these PEM private keys, parsed when [`build`](Self::build) runs, the signing
    /// key first (see [`key_set`](Self::key_set)); `#[login_config(private_keys = [..])]` passes
    /// its files here.
    pub fn private_keys_pem<I, P>(mut self, pems: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.key = KeySource::KeyPems(pems.into_iter().map(|p| p.as_ref().to_vec()).collect());
        self
    }

    /// A key set read when [`build`](Self::build) runs from the PEM files this environment
    /// variable lists, separated by commas (`JWT_PRIVATE_KEYS=new.pem,old.pem`), the signing key
    /// first (see [`key_set`](Self::key_set)). The error names the variable and the file.
    ///
    /// ```
    /// let err = login_runtime::LoginManager::builder()
    ///     .private_keys_from_env("LOGIN_RUNTIME_DOC_SURELY_UNSET")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.setting(), "private_keys");
    /// assert!(err.to_string().contains("LOGIN_RUNTIME_DOC_SURELY_UNSET"));
    /// ```
    pub fn private_keys_from_env(mut self, var: impl Into<String>) -> Self {
        self.key = KeySource::KeysEnv(var.into());
        self
    }

    /// The one algorithm tokens are signed and verified with (default HS256). Tokens with any other
    /// `alg` header are refused.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self.algorithm_set = true;
        self
    }

    /// The login route clients post credentials to (OpenAPI's `tokenUrl`); default `/auth/token`.
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// Read the token from `Authorization: Bearer …` (default on).
    pub fn header(mut self, on: bool) -> Self {
        self.header = on;
        self
    }

    /// Also read the token from this cookie (fastapi-login's `use_cookie`; its default name is
    /// [`DEFAULT_COOKIE_NAME`](crate::DEFAULT_COOKIE_NAME)).
    ///
    /// A name starting with `__Host-` (`__Host-access-token`) is the recommended setting in
    /// production: browsers then keep the cookie only when it is `Secure`, has `Path=/` and no
    /// `Domain`, so a page of a sibling subdomain or of plain http cannot plant one, nor one with
    /// a narrower path (cookie tossing). Pages on another port of the same host still can:
    /// cookies do not isolate ports. Such a name needs [`secure_cookies`](Self::secure_cookies)
    /// on, which [`build`](Self::build) checks.
    ///
    /// ```
    /// use login_runtime::LoginManager;
    /// let manager = LoginManager::builder().secret([7u8; 32]).cookie("__Host-access-token").build()?;
    /// assert!(manager.token_cookie("t".into()).to_string().contains("Secure; Path=/"));
    /// let err = LoginManager::builder()
    ///     .secret([7u8; 32])
    ///     .cookie("__Host-access-token")
    ///     .secure_cookies(false)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.setting(), "secure_cookies");
    /// # Ok::<(), login_runtime::ConfigError>(())
    /// ```
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into());
        self
    }

    /// Do not read a cookie (the default).
    pub fn no_cookie(mut self) -> Self {
        self.cookie = None;
        self
    }

    /// Lifetime of new tokens and of the cookie (default 15 minutes).
    pub fn expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry;
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default none; at most [`MAX_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Put this `iss` in new tokens and require it in received ones.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Put this `aud` in new tokens and require it in received ones.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Mark cookies `Secure` (default `true`). Turn off only for plain-http development: browsers
    /// treat `localhost` as secure already, so most setups never need to.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Check that state-changing requests authenticated by the cookie come from this site
    /// (default `true`; see [`LoginManager::csrf_allows`] for the rules). Bearer requests are
    /// never checked. Turn it off only where other protection covers the cookie.
    pub fn csrf_check(mut self, on: bool) -> Self {
        self.csrf_check = on;
        self
    }

    /// An origin (`https://app.example.com`, `http://localhost:3000`) whose pages may send
    /// cookie-authenticated, state-changing requests besides the server's own host: a front end
    /// served from another origin, or the public origin of a proxy that rewrites `Host`.
    /// Repeat for several.
    ///
    /// ```
    /// let manager = login_runtime::LoginManager::builder()
    ///     .secret([7u8; 32])
    ///     .cookie("access-token")
    ///     .csrf_trusted_origin("https://app.example.com")
    ///     .build()?;
    /// # Ok::<(), login_runtime::ConfigError>(())
    /// ```
    pub fn csrf_trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.csrf_trusted.push(origin.into());
        self
    }

    /// Refuse tokens longer than this many bytes before parsing them (default 8 KiB).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// Refuse tokens that live longer than this: `exp − iat` above it or, in a token without
    /// `iat` (FastAPI Users writes none), an `exp` further than this and the leeway from now.
    /// [`create_access_token`](LoginManager::create_access_token) refuses to make such a token
    /// too. At least [`expiry`](Self::expiry).
    ///
    /// Off by default: fastapi-login and PyJWT accept whatever lifetime the issuer signed (tokens
    /// of 50 years included), and so does this crate unless told otherwise. Every `exp` beyond the
    /// year 9999 is refused regardless ([`MAX_EXP`](crate::MAX_EXP)).
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime);
        self
    }

    /// The response for unauthenticated requests, instead of 401 `{"detail":"Invalid credentials"}`
    /// (fastapi-login's `not_authenticated_exception`). A route can override it again with
    /// `#[protected(redirect = "…")]` or `#[protected(reject = path)]`.
    pub fn on_unauthenticated(mut self, f: fn() -> Response) -> Self {
        self.unauthenticated = Some(f);
        self
    }

    /// The response for a user a route forbids (missing scopes, not a superuser, not verified),
    /// instead of 403 `{"detail":"Not enough permissions"}` with
    /// `WWW-Authenticate: Bearer error="insufficient_scope"`.
    pub fn on_forbidden(mut self, f: fn() -> Response) -> Self {
        self.forbidden = Some(f);
        self
    }

    /// Reads tokens with `reader` instead of the manager's own JWT check (revocation lists,
    /// opaque database or Redis tokens).
    pub fn token_reader(mut self, reader: Arc<dyn TokenReader>) -> Self {
        self.reader = Some(reader);
        self
    }

    /// Checks every setting and builds the manager.
    pub fn build(self) -> Result<LoginManager, ConfigError> {
        if !self.header && self.cookie.is_none() {
            return Err(ConfigError::new(
                "transport",
                "neither the header nor a cookie is read, so no request could ever log in: \
                 keep `header(true)` or add `cookie(\"access-token\")`",
            ));
        }
        check_token_url(&self.token_url).map_err(|p| ConfigError::new("token_url", p))?;
        if let Some(name) = &self.cookie {
            check_cookie_name(name).map_err(|p| ConfigError::new("cookie", p))?;
            check_cookie_prefix(name, self.secure_cookies)
                .map_err(|p| ConfigError::new("secure_cookies", p))?;
        }
        if self.expiry.is_zero() {
            return Err(ConfigError::new("expiry", "must be longer than zero"));
        }
        check_leeway(self.leeway.as_secs()).map_err(|p| ConfigError::new("leeway", p))?;
        if self.max_token_len < 64 {
            return Err(ConfigError::new("max_token_len", "must be at least 64 bytes"));
        }
        if self.max_lifetime.is_some_and(|max| max < self.expiry) {
            return Err(ConfigError::new(
                "max_lifetime",
                "is shorter than `expiry`: the manager would refuse its own tokens",
            ));
        }
        let csrf = CsrfPolicy::new(self.csrf_check, &self.csrf_trusted)
            .map_err(|p| ConfigError::new("csrf_trusted_origin", p))?;
        let keys = match self.read_key_set()? {
            Some(_) if self.algorithm_set => {
                return Err(ConfigError::new(
                    "algorithm",
                    "with a key set each key's type sets its algorithm (Ed25519: EdDSA, P-256: ES256, \
                     RSA: RS256): drop `algorithm(..)`",
                ));
            }
            Some(set) => Keys::Set(set),
            None => {
                let (encoding, decoding) = self.keys()?;
                Keys::Single {
                    encoding,
                    decoding,
                    algorithm: self.algorithm,
                }
            }
        };
        let rules = Rules {
            expiry: self.expiry,
            leeway: self.leeway.as_secs(),
            issuer: self.issuer,
            audience: self.audience,
            max_token_len: self.max_token_len,
            max_lifetime: self.max_lifetime.map(|max| max.as_secs()),
        };
        Ok(LoginManager::from_parts(ManagerParts {
            codec: Codec::new(keys, rules),
            token_url: self.token_url,
            header: self.header,
            cookie: CookiePolicy::new(self.cookie, self.secure_cookies),
            csrf,
            responses: Responses {
                unauthenticated: self.unauthenticated,
                forbidden: self.forbidden,
            },
            reader: self.reader,
        }))
    }

    fn keys(&self) -> Result<(EncodingKey, DecodingKey), ConfigError> {
        let hmac = matches!(
            self.algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        );
        let from_secret = |secret: &[u8], setting| {
            if !hmac {
                return Err(ConfigError::new(
                    setting,
                    format!(
                        "{:?} signs with a key pair: give `pem_keys(private, public)`",
                        self.algorithm
                    ),
                ));
            }
            check_secret(secret).map_err(|p| ConfigError::new(setting, p))?;
            Ok((EncodingKey::from_secret(secret), DecodingKey::from_secret(secret)))
        };
        match &self.key {
            KeySource::None => Err(ConfigError::new(
                "secret",
                "no signing key: call `secret(..)`, `secret_from_env(\"NAME\")` or `pem_keys(..)`",
            )),
            KeySource::Secret(secret) => from_secret(secret, "secret"),
            KeySource::SecretEnv(var) => match std::env::var(var) {
                Ok(value) => from_secret(value.as_bytes(), "secret").map_err(|e| {
                    ConfigError::new("secret", format!("environment variable `{var}`: {}", e.problem))
                }),
                Err(_) => Err(ConfigError::new(
                    "secret",
                    format!("environment variable `{var}` is not set or not UTF-8"),
                )),
            },
            KeySource::Pem { private, public } => pem_keys(self.algorithm, private, public),
            KeySource::KeySet(_) | KeySource::KeyFiles(_) | KeySource::KeyPems(_) | KeySource::KeysEnv(_) => {
                Err(ConfigError::new("private_keys", "a key set has no single key"))
            }
        }
    }

    /// The key set, when one is configured (read from its files or variable now).
    fn read_key_set(&self) -> Result<Option<KeySet>, ConfigError> {
        let err = |e: KeySetError| ConfigError::new("private_keys", e.to_string());
        match &self.key {
            KeySource::KeySet(set) => Ok(Some(set.clone())),
            KeySource::KeyFiles(paths) => KeySet::from_pem_files(paths).map(Some).map_err(err),
            KeySource::KeyPems(pems) => KeySet::from_pem(pems).map(Some).map_err(err),
            KeySource::KeysEnv(var) => {
                let Ok(value) = std::env::var(var) else {
                    return Err(ConfigError::new(
                        "private_keys",
                        format!("environment variable `{var}` is not set or not UTF-8"),
                    ));
                };
                let paths = (value.split(',').map(str::trim)).filter(|p| !p.is_empty());
                KeySet::from_pem_files(paths).map(Some).map_err(|e| {
                    ConfigError::new("private_keys", format!("environment variable `{var}`, {e}"))
                })
            }
            _ => Ok(None),
        }
    }
}

fn pem_keys(
    alg: Algorithm,
    private: &[u8],
    public: &[u8],
) -> Result<(EncodingKey, DecodingKey), ConfigError> {
    use Algorithm::*;
    let err = |setting, e: jsonwebtoken::errors::Error| {
        ConfigError::new(setting, format!("not a valid PEM key for {alg:?}: {e}"))
    };
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Ok((
            EncodingKey::from_rsa_pem(private).map_err(|e| err("private_key", e))?,
            DecodingKey::from_rsa_pem(public).map_err(|e| err("public_key", e))?,
        )),
        ES256 | ES384 => Ok((
            EncodingKey::from_ec_pem(private).map_err(|e| err("private_key", e))?,
            DecodingKey::from_ec_pem(public).map_err(|e| err("public_key", e))?,
        )),
        EdDSA => Ok((
            EncodingKey::from_ed_pem(private).map_err(|e| err("private_key", e))?,
            DecodingKey::from_ed_pem(public).map_err(|e| err("public_key", e))?,
        )),
        HS256 | HS384 | HS512 => Err(ConfigError::new(
            "algorithm",
            format!("{alg:?} is an HMAC algorithm: give `secret(..)`, not PEM keys"),
        )),
        other => Err(ConfigError::new(
            "algorithm",
            format!("{other:?} is not supported"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn short_secret_names_the_setting() {
        let err = LoginManager::builder().secret("short").build().unwrap_err();
        assert_eq!(err.setting(), "secret");
        assert!(err.to_string().contains("at least 32 bytes, got 5"), "{err}");
    }

    #[test]
    fn absurd_leeway_is_refused() {
        let err = LoginManager::builder()
            .secret(SECRET)
            .leeway(Duration::MAX)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "leeway");
        assert!(
            LoginManager::builder()
                .secret(SECRET)
                .leeway(MAX_LEEWAY)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn missing_key_is_an_error() {
        let err = LoginManager::builder().build().unwrap_err();
        assert_eq!(err.setting(), "secret");
    }

    #[test]
    fn env_secret_errors_name_the_variable() {
        let err = LoginManager::builder()
            .secret_from_env("LOGIN_RUNTIME_TEST_SURELY_UNSET")
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("LOGIN_RUNTIME_TEST_SURELY_UNSET"),
            "{err}"
        );
    }

    #[test]
    fn no_transport_is_an_error() {
        let err = LoginManager::builder()
            .secret(SECRET)
            .header(false)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "transport");
        assert!(
            LoginManager::builder()
                .secret(SECRET)
                .header(false)
                .cookie("c")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn bad_token_url_and_cookie_name() {
        let err = LoginManager::builder()
            .secret(SECRET)
            .token_url("auth token")
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "token_url");
        let err = LoginManager::builder()
            .secret(SECRET)
            .cookie("a;b")
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "cookie");
        assert!(err.to_string().contains("`;`"), "{err}");
        assert!(check_token_url("https://example.com/token").is_ok());
        assert!(check_cookie_name("access-token").is_ok());
        assert!(check_cookie_name("").is_err());
    }

    #[test]
    fn secret_with_asymmetric_algorithm_is_refused() {
        let err = LoginManager::builder()
            .secret(SECRET)
            .algorithm(Algorithm::RS256)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "secret");
        let err = LoginManager::builder().pem_keys("x", "y").build().unwrap_err();
        assert_eq!(err.setting(), "algorithm");
        let err = LoginManager::builder()
            .pem_keys("x", "y")
            .algorithm(Algorithm::RS256)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "private_key");
    }

    #[test]
    fn prefixed_cookie_names_need_secure_cookies() {
        for name in [
            "__Host-access-token",
            "__Secure-access-token",
            "__host-t",
            "__SECURE-t",
        ] {
            let m = LoginManager::builder()
                .secret(SECRET)
                .cookie(name)
                .build()
                .unwrap();
            assert!(
                m.token_cookie("t".into()).to_string().contains("Secure"),
                "{name}"
            );
            let err = LoginManager::builder()
                .secret(SECRET)
                .cookie(name)
                .secure_cookies(false)
                .build()
                .unwrap_err();
            assert_eq!(err.setting(), "secure_cookies", "{name}");
            assert!(err.to_string().contains("`Secure`"), "{err}");
        }
        // Other names, and a prefix that is not at the start, work without `Secure`.
        for name in ["access-token", "x__Host-t", "__Hostile"] {
            let built = LoginManager::builder()
                .secret(SECRET)
                .cookie(name)
                .secure_cookies(false)
                .build();
            assert!(built.is_ok(), "{name}");
        }
    }
}
