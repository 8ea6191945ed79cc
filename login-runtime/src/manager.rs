//! [`LoginManager`]: one login system's parts, shared by every request — the token codec, the
//! transports, the cookie and CSRF policies, the answers to refused requests — and
//! [`TokenReader`], the one way to extend it. The parts do the work; this file is the manager's
//! public API. [`LoginManagerBuilder`](crate::LoginManagerBuilder) makes the parts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use cookie::{Cookie, CookieBuilder};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::cookie::CookiePolicy;
use crate::csrf::CsrfPolicy;
use crate::reader::{ReadFuture, Transport};
use crate::rejection::Responses;
use crate::token::{AccessToken, Claims, TimedClaims, TokenError};
use crate::transport::{bearer_token, cookie_value};

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
    inner: Arc<ManagerParts>,
}

/// What a manager is made of; the builder makes it, only the manager reads it.
pub(crate) struct ManagerParts {
    /// Signs and verifies tokens.
    pub(crate) codec: Codec,
    /// The login route (OpenAPI's `tokenUrl`).
    pub(crate) token_url: String,
    /// Whether `Authorization: Bearer` is read.
    pub(crate) header: bool,
    /// The cookie transport: the name read and written, `Secure`.
    pub(crate) cookie: CookiePolicy,
    /// Which cookie-authenticated requests are refused as cross-site.
    pub(crate) csrf: CsrfPolicy,
    /// The answers to unauthenticated and forbidden requests.
    pub(crate) responses: Responses,
    /// Reads tokens instead of the codec, when set.
    pub(crate) reader: Option<Arc<dyn TokenReader>>,
}

impl LoginManager {
    /// The manager of these parts.
    pub(crate) fn from_parts(parts: ManagerParts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }

    /// The login route (OpenAPI's `tokenUrl`).
    pub fn token_url(&self) -> &str {
        &self.inner.token_url
    }

    /// The algorithm tokens are signed and verified with.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.codec.algorithm()
    }

    /// The public keys of the manager's [`KeySet`](crate::KeySet) as a JWK set, for
    /// `/.well-known/jwks.json`; `None` for a manager with a single key (an HMAC secret or
    /// [`pem_keys`](crate::LoginManagerBuilder::pem_keys)), whose tokens carry no `kid`.
    pub fn jwks(&self) -> Option<&JwkSet> {
        self.inner.codec.jwks()
    }

    /// The `kid` new tokens carry: the signing key's, with a key set.
    pub fn signing_kid(&self) -> Option<&str> {
        self.inner.codec.signing_kid()
    }

    /// The lifetime of new tokens and of the cookie.
    pub fn expiry(&self) -> Duration {
        self.inner.codec.rules().expiry
    }

    /// The cookie the token is read from and written to, if the cookie transport is on.
    pub fn cookie_name(&self) -> Option<&str> {
        self.inner.cookie.name()
    }

    /// Whether cookies are written with `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.inner.cookie.secure()
    }

    /// Whether `Authorization: Bearer` is read.
    pub fn reads_header(&self) -> bool {
        self.inner.header
    }

    /// The token reader, when one replaces the codec's own check.
    pub(crate) fn reader(&self) -> Option<&dyn TokenReader> {
        self.inner.reader.as_deref()
    }
}

/// Finding a request's token, and whether its cookie may authenticate it.
impl LoginManager {
    /// Finds the candidate tokens of a request: the bearer header first, then the cookie.
    ///
    /// A request may carry both; the extractors try them in this order, so a stale cookie does not
    /// hide a good header. A cookie name the request carries more than once gives no candidate
    /// (see [`CookieLookup`](crate::CookieLookup)): it may be a tossed one.
    pub fn tokens_in<'a>(&self, parts: &'a Parts) -> [Option<&'a str>; 2] {
        [
            self.token_in(&parts.headers, Transport::Header),
            self.token_in(&parts.headers, Transport::Cookie),
        ]
    }

    /// The token of these request headers on one transport, if the manager reads that transport:
    /// `Authorization: Bearer <token>` (the scheme case-insensitive), or the value of the
    /// manager's cookie when the request carries it exactly once and it is not empty. The token
    /// is not verified; a logout route reads the tokens it ends with it.
    ///
    /// ```
    /// use axum::http::{HeaderMap, HeaderValue};
    /// use login_runtime::{LoginManager, Transport};
    ///
    /// let manager = LoginManager::builder().secret([7u8; 32]).cookie("t").build()?;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("authorization", HeaderValue::from_static("bearer eyJ.a.b"));
    /// headers.insert("cookie", HeaderValue::from_static("t=eyJ.c.d"));
    /// assert_eq!(manager.token_in(&headers, Transport::Header), Some("eyJ.a.b"));
    /// assert_eq!(manager.token_in(&headers, Transport::Cookie), Some("eyJ.c.d"));
    /// # Ok::<(), login_runtime::ConfigError>(())
    /// ```
    pub fn token_in<'a>(&self, headers: &'a HeaderMap, from: Transport) -> Option<&'a str> {
        match from {
            Transport::Header if self.inner.header => bearer_token(headers),
            Transport::Cookie => cookie_value(headers, self.inner.cookie.name()?),
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
}

/// Creating and verifying tokens (the work of the manager's codec).
impl LoginManager {
    /// Signs a new access token with claims `sub`, `exp`, `iat`, `scopes` (when granted), the
    /// manager's `iss`/`aud` (when set) and the extra claims.
    ///
    /// Accepts a plain subject too: `manager.create_access_token("johndoe@e.mail")`.
    pub fn create_access_token(&self, token: impl Into<AccessToken>) -> Result<String, TokenError> {
        self.inner.codec.create_access_token(token.into())
    }

    /// Verifies a token and returns its claims.
    ///
    /// On top of jsonwebtoken's checks (signature, the one pinned algorithm, `exp`): tokens over
    /// the size limit are refused unparsed; `exp` and `sub` are required; `nbf` and a future `iat`
    /// are refused beyond the leeway; an `exp` beyond [`MAX_EXP`](crate::MAX_EXP) and, when a
    /// [`max_lifetime`](crate::LoginManagerBuilder::max_lifetime) is set, a longer lifetime are
    /// refused; a `crit` header is refused; `scopes` must be an array of strings, `iss` a string,
    /// `aud` a string or an array of strings; `iss`/`aud` must match when configured, and a token
    /// with an `aud` is refused by a manager that has none.
    #[inline]
    pub fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        self.inner.codec.decode(token)
    }

    /// [`decode`](Self::decode)'s checks with another `Validation` (say, of another audience:
    /// [`validation_for`](Self::validation_for)), into a claims type of your own.
    ///
    /// ```
    /// # let manager = login_runtime::LoginManager::builder().secret([7u8; 32]).build()?;
    /// #[derive(serde::Deserialize)]
    /// struct Reset { sub: String, iat: Option<u64> }
    ///
    /// impl login_runtime::TimedClaims for Reset {
    ///     fn iat(&self) -> Option<u64> { self.iat }
    /// }
    ///
    /// let exp = 4_102_444_800u64; // 2100-01-01
    /// let token = manager.encode_claims(&serde_json::json!({ "sub": "ann", "aud": "reset", "exp": exp }))?;
    /// let reset: Reset = manager.decode_with(&token, &manager.validation_for("reset"))?;
    /// assert_eq!(reset.sub, "ann");
    /// assert!(manager.decode(&token).is_err()); // another audience
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode_with<T: DeserializeOwned + TimedClaims>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<T, TokenError> {
        self.inner.codec.decode_with(token, validation)
    }

    /// The manager's validation (algorithm, required claims, leeway, issuer, audience), as
    /// [`decode`](Self::decode) uses it.
    pub fn validation(&self) -> &Validation {
        self.inner.codec.validation()
    }

    /// The manager's validation (algorithm, required claims, leeway, issuer) for tokens of another
    /// audience, such as FastAPI Users' reset and verify tokens.
    pub fn validation_for(&self, audience: &str) -> Validation {
        self.inner.codec.validation_for(audience)
    }

    /// Signs `claims` as they are, with the manager's key and algorithm (header `typ: JWT`); for
    /// tokens whose exact claims a protocol fixes. Nothing is added: include `exp` yourself.
    ///
    /// ```
    /// # let manager = login_runtime::LoginManager::builder().secret([7u8; 32]).build()?;
    /// let exp = 4_102_444_800u64; // 2100-01-01
    /// let token = manager.encode_claims(&serde_json::json!({ "sub": "ann", "exp": exp }))?;
    /// assert_eq!(manager.decode(&token)?.sub, "ann");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_claims<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        self.inner.codec.encode_claims(claims)
    }

    /// Verifies a token exactly like [`decode`](Self::decode), then deserializes its payload into
    /// your own claims type, for extra claims.
    ///
    /// ```
    /// # let manager = login_runtime::LoginManager::builder().secret([7u8; 32]).build()?;
    /// use login_runtime::AccessToken;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Mine { sub: String, name: String }
    ///
    /// let token = manager.create_access_token(AccessToken::new("ann").claim("name", "Ann"))?;
    /// let mine: Mine = manager.decode_claims(&token)?;
    /// assert_eq!((mine.sub.as_str(), mine.name.as_str()), ("ann", "Ann"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode_claims<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        self.inner.codec.decode_claims(token)
    }
}

/// Writing and clearing the token cookie (the work of the manager's cookie policy).
impl LoginManager {
    /// The cookie that carries `token`: HttpOnly, SameSite=Lax, Path=/, Secure (unless turned off
    /// with [`secure_cookies(false)`](crate::LoginManagerBuilder::secure_cookies)), Max-Age equal to
    /// the token's remaining lifetime (read from its `exp`; the manager's expiry for a string that
    /// is not a token). Named after the manager's cookie, or `access-token`.
    ///
    /// Works with `axum_extra::extract::CookieJar::add` too.
    ///
    /// ```
    /// # let manager = login_runtime::LoginManager::builder().secret([7u8; 32]).build().unwrap();
    /// let cookie = manager.token_cookie("eyJ…".to_owned());
    /// let text = cookie.to_string();
    /// assert!(text.starts_with("access-token=eyJ…"));
    /// assert!(text.contains("HttpOnly") && text.contains("SameSite=Lax") && text.contains("Max-Age=900"));
    /// ```
    pub fn token_cookie(&self, token: String) -> Cookie<'static> {
        self.inner.cookie.token_cookie(token, self.expiry())
    }

    /// Every cookie this manager's users write starts here (the token cookie, and those of
    /// crates built on it: FastAPI Users' auth and refresh cookies): `name=value`, HttpOnly,
    /// SameSite=Lax, Path=/, Secure (unless turned off with
    /// [`secure_cookies(false)`](crate::LoginManagerBuilder::secure_cookies)) and `Max-Age` of
    /// `max_age` seconds. Change the path or SameSite on the builder; the security flags are the
    /// manager's.
    ///
    /// ```
    /// use cookie::SameSite;
    /// # let manager = login_runtime::LoginManager::builder().secret([7u8; 32]).build().unwrap();
    /// let cookie = manager
    ///     .cookie_builder("refresh", "r1", 600)
    ///     .path("/auth/refresh")
    ///     .same_site(SameSite::Strict)
    ///     .build();
    /// assert_eq!(cookie.to_string(), "refresh=r1; HttpOnly; SameSite=Strict; Secure; Path=/auth/refresh; Max-Age=600");
    /// ```
    pub fn cookie_builder(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        value: impl Into<std::borrow::Cow<'static, str>>,
        max_age: u64,
    ) -> CookieBuilder<'static> {
        self.inner.cookie.cookie_builder(name, value, max_age)
    }

    /// A cookie that makes the browser drop the token cookie (empty value, `Max-Age=0`).
    pub fn removal_cookie(&self) -> Cookie<'static> {
        self.inner.cookie.removal_cookie()
    }

    /// Adds the token cookie to a response (fastapi-login's `set_cookie`), and marks the
    /// response `Cache-Control: no-store` ([`no_store`](crate::no_store)): it carries a token.
    pub fn set_cookie(&self, response: &mut Response, token: String) {
        self.inner.cookie.set_cookie(response, token, self.expiry());
    }

    /// Adds the removal cookie to a response (logout).
    pub fn clear_cookie(&self, response: &mut Response) {
        self.inner.cookie.clear_cookie(response);
    }

    /// Removal cookies for the token cookie at `Path=/` and at each ancestor path of
    /// `request_path` (`/users/me`: `/`, `/users`, `/users/`, `/users/me`), the paths a cookie
    /// that the browser sends with this request can have. A cookie tossed by a page of another
    /// port or of a sibling subdomain usually carries a narrower path than the real one, so that
    /// the browser sends it first.
    ///
    /// At most 8 levels below `/` are cleared (deeper tossed cookies are
    /// still never used, only not removed), and a path with characters that cannot stand in a
    /// `Path` attribute gets `/` only. A `__Host-` cookie can only have `Path=/`, so that is the
    /// one path it gets. What cannot be cleared from here: a cookie set with `Domain=` by a
    /// sibling subdomain (a removal must name the same domain).
    ///
    /// ```
    /// # let manager = login_runtime::LoginManager::builder().secret([7u8; 32]).cookie("t").build().unwrap();
    /// let paths: Vec<String> = manager
    ///     .removal_cookies_for("/users/me")
    ///     .iter()
    ///     .map(|c| c.path().unwrap().to_owned())
    ///     .collect();
    /// assert_eq!(paths, ["/", "/users", "/users/", "/users/me"]);
    /// ```
    pub fn removal_cookies_for(&self, request_path: &str) -> Vec<Cookie<'static>> {
        self.inner.cookie.removal_cookies_for(request_path)
    }

    /// When the request carries the token cookie more than once (which never authenticates, see
    /// [`CookieLookup`](crate::CookieLookup)), adds the
    /// [`removal_cookies_for`](Self::removal_cookies_for) its path to `response`. A required
    /// user ([`Authenticated`](crate::Authenticated), `#[protected]`) calls it on its
    /// unauthenticated answer (401, or the route's redirect); an optional user yields `None` and
    /// lets the handler answer, so call it there yourself if that answer should clear them too.
    pub fn clear_repeated_cookie(&self, parts: &Parts, response: &mut Response) {
        self.inner.cookie.clear_repeated_cookie(parts, response);
    }
}

/// The answers to refused requests.
impl LoginManager {
    /// The response for an unauthenticated request: the manager's own, or 401 with
    /// `{"detail":"Invalid credentials"}` and `WWW-Authenticate: Bearer`.
    pub fn unauthenticated_response(&self) -> Response {
        self.inner.responses.unauthenticated()
    }

    /// The response for a forbidden request: the manager's own, or
    /// [`insufficient_scope`](crate::insufficient_scope)'s 403.
    pub fn forbidden_response(&self) -> Response {
        self.inner.responses.forbidden()
    }
}

impl fmt::Debug for LoginManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let rules = i.codec.rules();
        f.debug_struct("LoginManager")
            .field("algorithm", &i.codec.algorithm())
            .field("key_set", &i.codec.key_set())
            .field("key", &"<redacted>")
            .field("token_url", &i.token_url)
            .field("header", &i.header)
            .field("cookie", &i.cookie.name())
            .field("expiry", &rules.expiry)
            .field("leeway", &rules.leeway)
            .field("issuer", &rules.issuer)
            .field("audience", &rules.audience)
            .field("secure_cookies", &i.cookie.secure())
            .field("csrf", &i.csrf)
            .finish_non_exhaustive()
    }
}

/// Reads a token instead of the manager's own JWT check, when set with
/// [`LoginManagerBuilder::token_reader`](crate::LoginManagerBuilder::token_reader): `Ok(None)`
/// refuses the token (the next candidate is tried, then 401); `Err` answers 500, like a failing
/// loader. A reader that accepts JWTs should start with [`LoginManager::decode`].
///
/// ```
/// use login_runtime::{LoginManager, ReadFuture, TokenReader, Transport};
///
/// /// Accepts JWTs from the header only.
/// struct HeaderOnly;
///
/// impl TokenReader for HeaderOnly {
///     fn read<'a>(&'a self, manager: &'a LoginManager, token: &'a str, from: Transport) -> ReadFuture<'a> {
///         let claims = (from == Transport::Header).then(|| manager.decode(token).ok()).flatten();
///         Box::pin(async move { Ok(claims.map(Into::into)) })
///     }
/// }
/// ```
pub trait TokenReader: Send + Sync + 'static {
    /// The claims of `token`, if it is good.
    fn read<'a>(&'a self, manager: &'a LoginManager, token: &'a str, from: Transport) -> ReadFuture<'a>;
}
