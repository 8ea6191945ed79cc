//! [`LoginManager`]: the keys, the transports and the settings, shared by every request.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::http::request::Parts;
use axum::response::Response;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};

use crate::config::LoginManagerBuilder;
use crate::reader::Transport;

pub(crate) type ResponseFn = fn() -> Response;

/// The signing keys and settings of one login system (fastapi-login's `LoginManager`).
///
/// Cheap to clone (one reference count), so it lives in the axum state and handlers reach it through
/// [`FromRef`](axum::extract::FromRef). Build one with [`LoginManager::builder`] or a
/// [`#[login_config]`](crate::login_config) type.
///
/// ```
/// use login_runtime::{AccessToken, LoginManager};
///
/// let manager = LoginManager::builder().secret("a secret of at least thirty-two bytes!").build()?;
/// let token = manager.create_access_token(AccessToken::new("johndoe@e.mail").scopes(["admin"]))?;
/// let claims = manager.decode(&token)?;
/// assert_eq!(claims.sub, "johndoe@e.mail");
/// assert_eq!(claims.scopes, ["admin"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LoginManager {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) encoding_key: EncodingKey,
    pub(crate) decoding_key: DecodingKey,
    pub(crate) algorithm: Algorithm,
    /// The key set, when one replaces the single key: `kid` in, `kid` out, JWKS.
    pub(crate) key_set: Option<crate::keys::KeySet>,
    pub(crate) validation: Validation,
    pub(crate) token_url: String,
    pub(crate) header: bool,
    pub(crate) cookie: Option<String>,
    pub(crate) expiry: Duration,
    pub(crate) leeway: u64,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) secure_cookies: bool,
    pub(crate) csrf: crate::csrf::CsrfPolicy,
    pub(crate) max_token_len: usize,
    pub(crate) max_lifetime: Option<u64>,
    pub(crate) unauthenticated: Option<ResponseFn>,
    pub(crate) forbidden: Option<ResponseFn>,
    pub(crate) reader: Option<Arc<dyn crate::reader::TokenReader>>,
}

impl LoginManager {
    /// A builder with fastapi-login's defaults: header transport, no cookie, HS256, 15 minutes.
    pub fn builder() -> LoginManagerBuilder {
        LoginManagerBuilder::default()
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// The login route (OpenAPI's `tokenUrl`).
    pub fn token_url(&self) -> &str {
        &self.inner.token_url
    }

    /// The algorithm tokens are signed and verified with.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.algorithm
    }

    /// The public keys of the manager's [`KeySet`](crate::KeySet) as a JWK set, for
    /// `/.well-known/jwks.json`; `None` for a manager with a single key (an HMAC secret or
    /// [`pem_keys`](crate::LoginManagerBuilder::pem_keys)), whose tokens carry no `kid`.
    pub fn jwks(&self) -> Option<&jsonwebtoken::jwk::JwkSet> {
        self.inner.key_set.as_ref().map(crate::KeySet::jwks)
    }

    /// The `kid` new tokens carry: the signing key's, with a key set.
    pub fn signing_kid(&self) -> Option<&str> {
        self.inner.key_set.as_ref().map(|set| set.signing().kid.as_str())
    }

    /// The lifetime of new tokens and of the cookie.
    pub fn expiry(&self) -> Duration {
        self.inner.expiry
    }

    /// The cookie the token is read from and written to, if the cookie transport is on.
    pub fn cookie_name(&self) -> Option<&str> {
        self.inner.cookie.as_deref()
    }

    /// Whether cookies are written with `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.inner.secure_cookies
    }

    /// Whether `Authorization: Bearer` is read.
    pub fn reads_header(&self) -> bool {
        self.inner.header
    }

    /// Finds the candidate tokens of a request: the bearer header first, then the cookie.
    ///
    /// A request may carry both; the extractors try them in this order, so a stale cookie does not
    /// hide a good header. A cookie name the request carries more than once gives no candidate
    /// (see [`CookieLookup`](crate::transport::CookieLookup)): it may be a tossed one.
    pub fn tokens_in<'a>(&self, parts: &'a Parts) -> [Option<&'a str>; 2] {
        [
            self.token_in(parts, Transport::Header),
            self.token_in(parts, Transport::Cookie),
        ]
    }

    /// The request's token on one transport, if the manager reads that transport.
    pub(crate) fn token_in<'a>(&self, parts: &'a Parts, from: Transport) -> Option<&'a str> {
        match from {
            Transport::Header if self.inner.header => crate::transport::bearer_token(&parts.headers),
            Transport::Cookie => {
                let name = self.inner.cookie.as_deref()?;
                crate::transport::cookie_value(&parts.headers, name)
            }
            _ => None,
        }
    }

    /// Whether the request's cookie may authenticate it: `true` for safe methods (`GET`, `HEAD`,
    /// `OPTIONS`, `TRACE`), with the check turned off, and for requests from this site; `false`
    /// for a state-changing request a browser sent from another site. The extractors call it
    /// before reading the cookie; call it yourself in an unauthenticated route that sets the
    /// cookie (a cookie login form), against login CSRF.
    ///
    /// The rules (OWASP CSRF cheat sheet): `Sec-Fetch-Site: same-origin` or `none` passes;
    /// `same-site`/`cross-site` pass only from a
    /// [trusted origin](crate::LoginManagerBuilder::csrf_trusted_origin); without
    /// `Sec-Fetch-Site`, an `Origin` must name the request's host or a trusted origin; a request
    /// with neither header (not a browser) passes.
    ///
    /// ```
    /// use axum::http::Request;
    /// let manager = login_runtime::LoginManager::builder().secret([7u8; 32]).cookie("t").build()?;
    /// let forged = Request::post("/users/me").header("sec-fetch-site", "cross-site").body(())?;
    /// assert!(!manager.csrf_allows(&forged.into_parts().0));
    /// let own = Request::post("/users/me").header("sec-fetch-site", "same-origin").body(())?;
    /// assert!(manager.csrf_allows(&own.into_parts().0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn csrf_allows(&self, parts: &Parts) -> bool {
        self.inner.csrf.allows(parts)
    }

    /// The response for an unauthenticated request: the manager's own, or 401 with
    /// `{"detail":"Invalid credentials"}` and `WWW-Authenticate: Bearer`.
    pub fn unauthenticated_response(&self) -> Response {
        match self.inner.unauthenticated {
            Some(f) => f(),
            None => crate::rejection::invalid_credentials(),
        }
    }

    /// The response for a forbidden request: the manager's own, or
    /// [`insufficient_scope`](crate::insufficient_scope)'s 403.
    pub fn forbidden_response(&self) -> Response {
        match self.inner.forbidden {
            Some(f) => f(),
            None => crate::rejection::insufficient_scope(),
        }
    }
}

impl fmt::Debug for LoginManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("LoginManager")
            .field("algorithm", &i.algorithm)
            .field("key_set", &i.key_set)
            .field("key", &"<redacted>")
            .field("token_url", &i.token_url)
            .field("header", &i.header)
            .field("cookie", &i.cookie)
            .field("expiry", &i.expiry)
            .field("leeway", &i.leeway)
            .field("issuer", &i.issuer)
            .field("audience", &i.audience)
            .field("secure_cookies", &i.secure_cookies)
            .field("csrf", &i.csrf)
            .finish_non_exhaustive()
    }
}
