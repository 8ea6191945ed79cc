//! The one writer of the users routes' `Set-Cookie` headers: the auth cookie
//! (`fastapiusersauth`) and the refresh cookie (`fastapiusersrefresh`), set and cleared. Each is
//! built by the manager ([`LoginManager::cookie_builder`](login_runtime::LoginManager::cookie_builder),
//! which owns the security flags, as for the core's token cookie) and written here as Starlette
//! writes FastAPI Users' cookies: attributes in Python's `Morsel` order (sorted by name), SameSite
//! in lower case, so a client comparing headers sees FastAPI Users' bytes.

use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::response::Response;
use cookie::{Cookie, SameSite};

use crate::service::Users;

/// The value Starlette writes for a cleared cookie (`set_cookie(name, "")`, quoted by `Morsel`).
const CLEARED: &str = "\"\"";

/// The auth cookie carrying `value` (a token, or [`CLEARED`] with `max_age` 0): the manager's
/// cookie name (FastAPI Users' `fastapiusersauth` by default), Path=/, SameSite=lax.
pub(crate) fn auth_cookie(users: &Users, value: &str, max_age: u64) -> Cookie<'static> {
    let name = users
        .manager()
        .cookie_name()
        .unwrap_or(crate::service::COOKIE_NAME);
    users
        .manager()
        .cookie_builder(name.to_owned(), value.to_owned(), max_age)
        .build()
}

/// The auth cookie cleared: the empty value, `Max-Age=0`.
pub(crate) fn auth_cookie_cleared(users: &Users) -> Cookie<'static> {
    auth_cookie(users, CLEARED, 0)
}

/// The refresh cookie carrying `value`: sent to the refresh route only
/// ([`REFRESH_COOKIE_PATH`](crate::REFRESH_COOKIE_PATH)), never cross-site (SameSite=strict).
pub(crate) fn refresh_cookie(users: &Users, value: &str, max_age: u64) -> Cookie<'static> {
    users
        .manager()
        .cookie_builder(crate::REFRESH_COOKIE_NAME, value.to_owned(), max_age)
        .path(crate::REFRESH_COOKIE_PATH)
        .same_site(SameSite::Strict)
        .build()
}

/// The refresh cookie cleared: the empty value, `Max-Age=0`.
pub(crate) fn refresh_cookie_cleared(users: &Users) -> Cookie<'static> {
    refresh_cookie(users, CLEARED, 0)
}

/// Appends `cookie` to `response` as a `Set-Cookie` header in Starlette's form; false (nothing
/// appended) if it cannot be a header value.
#[must_use]
pub(crate) fn append(response: &mut Response, cookie: &Cookie<'_>) -> bool {
    match HeaderValue::from_str(&starlette(cookie)) {
        Ok(value) => {
            response.headers_mut().append(SET_COOKIE, value);
            true
        }
        Err(_) => false,
    }
}

/// `name=value`, then the attributes that are set, in `Morsel`'s order: Domain, HttpOnly,
/// Max-Age, Path, SameSite (lower case, as FastAPI Users passes it), Secure.
fn starlette(cookie: &Cookie<'_>) -> String {
    let mut text = format!("{}={}", cookie.name(), cookie.value());
    if let Some(domain) = cookie.domain() {
        text.push_str(&format!("; Domain={domain}"));
    }
    if cookie.http_only() == Some(true) {
        text.push_str("; HttpOnly");
    }
    if let Some(max_age) = cookie.max_age() {
        text.push_str(&format!("; Max-Age={}", max_age.whole_seconds()));
    }
    if let Some(path) = cookie.path() {
        text.push_str(&format!("; Path={path}"));
    }
    if let Some(same_site) = cookie.same_site() {
        let same_site = match same_site {
            SameSite::Strict => "strict",
            SameSite::Lax => "lax",
            SameSite::None => "none",
        };
        text.push_str(&format!("; SameSite={same_site}"));
    }
    if cookie.secure() == Some(true) {
        text.push_str("; Secure");
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::response::IntoResponse;

    use super::*;
    use crate::MemoryStore;

    fn users(secure: bool) -> Users {
        Users::builder(Arc::new(MemoryStore::default()))
            .secret("a secret of at least thirty-two bytes!")
            .secure_cookies(secure)
            .build()
            .unwrap()
    }

    fn written(cookie: &Cookie<'_>) -> String {
        let mut response = ().into_response();
        assert!(append(&mut response, cookie));
        response.headers()[SET_COOKIE].to_str().unwrap().to_owned()
    }

    #[test]
    fn the_auth_cookie_is_starlettes() {
        let users = users(true);
        assert_eq!(
            written(&auth_cookie(&users, "eyJ.a.b", 3600)),
            "fastapiusersauth=eyJ.a.b; HttpOnly; Max-Age=3600; Path=/; SameSite=lax; Secure"
        );
        assert_eq!(
            written(&auth_cookie_cleared(&users)),
            "fastapiusersauth=\"\"; HttpOnly; Max-Age=0; Path=/; SameSite=lax; Secure"
        );
    }

    #[test]
    fn the_refresh_cookie_is_strict_and_scoped_to_its_route() {
        let users = users(false);
        assert_eq!(
            written(&refresh_cookie(&users, "r1", 600)),
            "fastapiusersrefresh=r1; HttpOnly; Max-Age=600; Path=/auth/cookie/refresh; SameSite=strict"
        );
        assert_eq!(
            written(&refresh_cookie_cleared(&users)),
            "fastapiusersrefresh=\"\"; HttpOnly; Max-Age=0; Path=/auth/cookie/refresh; SameSite=strict"
        );
    }

    #[test]
    fn a_value_that_cannot_be_a_header_is_not_written() {
        let mut response = ().into_response();
        assert!(!append(&mut response, &Cookie::new("a", "b\nc")));
        assert!(response.headers().get(SET_COOKIE).is_none());
    }
}
