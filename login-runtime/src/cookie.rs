//! The token cookie: how it is written and cleared ([`CookiePolicy`]), with the `cookie` crate's
//! types. [`LoginManager`](crate::LoginManager)'s cookie methods hand their work to it.

use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::Response;
use cookie::{Cookie, CookieBuilder, SameSite};

use crate::cache::mark_no_store;
use crate::token::now;
use crate::transport::CookieLookup;

/// The default cookie name, as in fastapi-login.
pub const DEFAULT_COOKIE_NAME: &str = "access-token";

/// A manager's cookie: its name (when the cookie transport is on) and its `Secure` flag.
#[derive(Debug, Clone)]
pub(crate) struct CookiePolicy {
    name: Option<String>,
    secure: bool,
}

impl CookiePolicy {
    /// The policy of a cookie of this name (`None`: the cookie transport is off, and cookies are
    /// written under [`DEFAULT_COOKIE_NAME`]); the builder has checked the name.
    pub(crate) fn new(name: Option<String>, secure: bool) -> Self {
        Self { name, secure }
    }

    /// The cookie tokens are read from, if the cookie transport is on.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether cookies are written with `Secure`.
    pub(crate) fn secure(&self) -> bool {
        self.secure
    }

    /// The cookie that carries `token`, its Max-Age the token's remaining lifetime, or `lifetime`
    /// for a value that is not a token.
    pub(crate) fn token_cookie(&self, token: String, lifetime: Duration) -> Cookie<'static> {
        let lifetime = remaining_lifetime(&token).unwrap_or(lifetime.as_secs());
        self.cookie_with_lifetime(token, lifetime)
    }

    fn cookie_with_lifetime(&self, value: String, seconds: u64) -> Cookie<'static> {
        self.cookie_builder(self.name_or_default().to_owned(), value, seconds)
            .build()
    }

    /// The cookie every cookie of the manager starts from: `name=value`, HttpOnly, SameSite=Lax,
    /// Path=/, Secure (unless turned off) and `Max-Age` of `max_age` seconds.
    pub(crate) fn cookie_builder(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        value: impl Into<std::borrow::Cow<'static, str>>,
        max_age: u64,
    ) -> CookieBuilder<'static> {
        Cookie::build((name, value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age).unwrap_or(i64::MAX),
            ))
    }

    /// A cookie that makes the browser drop the token cookie (empty value, `Max-Age=0`).
    pub(crate) fn removal_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.cookie_with_lifetime(String::new(), 0);
        cookie.make_removal();
        cookie
    }

    /// Adds the token cookie to a response and marks it `Cache-Control: no-store`.
    pub(crate) fn set_cookie(&self, response: &mut Response, token: String, lifetime: Duration) {
        append(response, &self.token_cookie(token, lifetime));
        mark_no_store(response);
    }

    /// Adds the removal cookie to a response.
    pub(crate) fn clear_cookie(&self, response: &mut Response) {
        append(response, &self.removal_cookie());
    }

    fn name_or_default(&self) -> &str {
        self.name.as_deref().unwrap_or(DEFAULT_COOKIE_NAME)
    }

    /// Removal cookies at `/` and at each ancestor path of `request_path`; `/` alone for a
    /// `__Host-` cookie.
    pub(crate) fn removal_cookies_for(&self, request_path: &str) -> Vec<Cookie<'static>> {
        let paths = if login_checks::cookie_prefix(self.name_or_default()) == Some("__Host-") {
            vec!["/"]
        } else {
            ancestor_paths(request_path)
        };
        (paths.into_iter())
            .map(|path| {
                let mut cookie = self.removal_cookie();
                cookie.set_path(path.to_owned());
                cookie
            })
            .collect()
    }

    /// Adds the removal cookies for the request's path when it carries the cookie more than once.
    pub(crate) fn clear_repeated_cookie(&self, parts: &Parts, response: &mut Response) {
        let Some(name) = self.name() else {
            return;
        };
        if CookieLookup::find(&parts.headers, name) != CookieLookup::Repeated {
            return;
        }
        tracing::info!(
            path = parts.uri.path(),
            "repeated auth cookie refused and cleared"
        );
        for cookie in self.removal_cookies_for(parts.uri.path()) {
            append(response, &cookie);
        }
    }
}

/// How many path levels below `/` a repeated cookie is cleared at (each level is two
/// `Set-Cookie` headers: with and without the trailing slash).
pub(crate) const MAX_CLEARED_LEVELS: usize = 8;

/// `/`, then every `/a`, `/a/`, `/a/b`, … prefix of `path` up to [`MAX_CLEARED_LEVELS`] levels;
/// `/` alone for a path that is not plain visible ASCII without `;` and `,`.
fn ancestor_paths(path: &str) -> Vec<&str> {
    let mut paths = vec!["/"];
    let plain = |b: u8| b.is_ascii_graphic() && b != b';' && b != b',';
    if !path.starts_with('/') || !path.bytes().all(plain) {
        return paths;
    }
    let ends = path[1..]
        .match_indices('/')
        .map(|(i, _)| i + 1)
        .chain([path.len()]);
    for end in ends.take(MAX_CLEARED_LEVELS) {
        for candidate in [&path[..end], path.get(..end + 1).unwrap_or_default()] {
            if candidate.len() > 1 && !paths.contains(&candidate) {
                paths.push(candidate);
            }
        }
    }
    paths
}

/// Seconds until the token's `exp`. The token is one this manager just signed, so its payload is
/// read without verifying it again.
fn remaining_lifetime(token: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: u64,
    }
    let exp = jsonwebtoken::dangerous::insecure_decode_claims::<Exp>(token)
        .ok()?
        .exp;
    Some(exp.saturating_sub(now()))
}

fn append(response: &mut Response, cookie: &Cookie<'_>) {
    // A cookie built from a checked name and a token (base64url and dots) is always a valid header;
    // a value that is not is skipped rather than sent broken.
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::ancestor_paths;
    use crate::LoginManager;
    use axum::response::IntoResponse;
    use std::time::Duration;

    #[test]
    fn cookie_flags() {
        let m = LoginManager::builder()
            .secret([1u8; 32])
            .cookie("tok")
            .expiry(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut res = ().into_response();
        m.set_cookie(&mut res, "abc".into());
        m.clear_cookie(&mut res);
        let set: Vec<_> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            set[0],
            "tok=abc; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=60"
        );
        assert!(
            set[1].starts_with("tok=; ") && set[1].contains("Max-Age=0"),
            "{}",
            set[1]
        );
    }

    #[test]
    fn max_age_follows_the_token_lifetime() {
        let m = LoginManager::builder().secret([1u8; 32]).build().unwrap();
        let long = m
            .create_access_token(crate::AccessToken::new("a").expires_in(Duration::from_secs(12 * 3600)))
            .unwrap();
        let cookie = m.token_cookie(long);
        let max_age = cookie.max_age().unwrap().whole_seconds();
        assert!((12 * 3600 - 2..=12 * 3600).contains(&max_age), "{max_age}");
        let short = m.token_cookie(m.create_access_token("a").unwrap());
        assert!((898..=900).contains(&short.max_age().unwrap().whole_seconds()));
    }

    #[test]
    fn insecure_cookies_for_plain_http() {
        let m = LoginManager::builder()
            .secret([1u8; 32])
            .secure_cookies(false)
            .build()
            .unwrap();
        let c = m.token_cookie("x".into()).to_string();
        assert!(!c.contains("Secure") && c.starts_with("access-token=x"), "{c}");
    }

    #[test]
    fn ancestor_paths_of_a_request() {
        assert_eq!(ancestor_paths("/"), ["/"]);
        assert_eq!(ancestor_paths("/protected"), ["/", "/protected"]);
        assert_eq!(
            ancestor_paths("/users/me"),
            ["/", "/users", "/users/", "/users/me"]
        );
        assert_eq!(
            ancestor_paths("/users/me/"),
            ["/", "/users", "/users/", "/users/me", "/users/me/"]
        );
        assert_eq!(ancestor_paths("//x"), ["/", "//", "//x"]);
        // Nothing that would break the header or add an attribute.
        for odd in ["/users/me;x=1", "/a,b", "/caf\u{e9}", "/a b", "*", ""] {
            assert_eq!(ancestor_paths(odd), ["/"], "{odd:?}");
        }
        // Bounded: a deep path does not make one header per segment.
        let deep = "/x".repeat(500);
        let paths = ancestor_paths(&deep);
        assert_eq!(paths.len(), 1 + 2 * super::MAX_CLEARED_LEVELS, "{paths:?}");
    }

    #[test]
    fn removal_cookies_keep_the_cookie_flags() {
        let m = LoginManager::builder()
            .secret([1u8; 32])
            .cookie("tok")
            .build()
            .unwrap();
        for cookie in m.removal_cookies_for("/a/b") {
            let text = cookie.to_string();
            assert!(text.starts_with("tok=; ") && text.contains("Max-Age=0"), "{text}");
            assert!(text.contains("Secure") && text.contains("HttpOnly"), "{text}");
        }
        let m = LoginManager::builder()
            .secret([1u8; 32])
            .cookie("__Host-tok")
            .build()
            .unwrap();
        let paths: Vec<_> = m
            .removal_cookies_for("/a/b")
            .iter()
            .map(|c| c.path().unwrap().to_owned())
            .collect();
        assert_eq!(paths, ["/"], "a __Host- cookie exists only at /");
    }
}
