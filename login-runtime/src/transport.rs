//! Reading a token from the `Authorization` header and from a cookie, without allocating.
//! [`LoginManager::token_in`](crate::LoginManager::token_in) reads a request's token with these;
//! [`CookieLookup`] is public for the cookies of an app's own.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use cookie::Cookie;

/// The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = header_str(headers.get(AUTHORIZATION)?)?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_matches(' ');
    (!token.is_empty()).then_some(token)
}

/// What a request's `Cookie` headers hold under one name.
///
/// A browser sends every cookie whose domain and path match the request, and a page of another
/// port or of a sibling subdomain can add one under the same name with a narrower path, which the
/// browser then sends first ("cookie tossing"). A name that appears twice therefore has no value
/// the server can trust: it is [`Repeated`](Self::Repeated), never the first or the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieLookup<'a> {
    /// No cookie of that name.
    Absent,
    /// Exactly one, with this value (borrowed from the request, surrounding double quotes
    /// removed; possibly empty).
    One(&'a str),
    /// Two or more cookies of that name, whatever their values.
    Repeated,
}

impl<'a> CookieLookup<'a> {
    /// Looks `name` up in every `Cookie` header (parsed by the `cookie` crate, exact names).
    ///
    /// ```
    /// use axum::http::{HeaderMap, HeaderValue};
    /// use login_runtime::CookieLookup;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("cookie", HeaderValue::from_static("t=attacker; lang=en; t=victim"));
    /// assert_eq!(CookieLookup::find(&headers, "t"), CookieLookup::Repeated);
    /// assert_eq!(CookieLookup::find(&headers, "lang"), CookieLookup::One("en"));
    /// assert_eq!(CookieLookup::find(&headers, "other"), CookieLookup::Absent);
    /// ```
    pub fn find(headers: &'a HeaderMap, name: &str) -> Self {
        let mut found = CookieLookup::Absent;
        let cookies = (headers.get_all(COOKIE).iter())
            .filter_map(header_str)
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .filter(|c| c.name() == name);
        for cookie in cookies {
            if found != CookieLookup::Absent {
                return CookieLookup::Repeated;
            }
            let value = cookie.value_raw().unwrap_or_default();
            let value = (value.strip_prefix('"').and_then(|v| v.strip_suffix('"'))).unwrap_or(value);
            found = CookieLookup::One(value);
        }
        found
    }

    /// The value a request may be trusted with: that of the one cookie of the name, if it is not
    /// empty; `None` when there is none and when the name is [`Repeated`](Self::Repeated).
    ///
    /// ```
    /// use axum::http::{HeaderMap, HeaderValue};
    /// use login_runtime::CookieLookup;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("cookie", HeaderValue::from_static("t=tok; empty=; twice=a; twice=b"));
    /// assert_eq!(CookieLookup::find(&headers, "t").value(), Some("tok"));
    /// assert_eq!(CookieLookup::find(&headers, "empty").value(), None);
    /// assert_eq!(CookieLookup::find(&headers, "twice").value(), None);
    /// ```
    pub fn value(self) -> Option<&'a str> {
        match self {
            CookieLookup::One(value) if !value.is_empty() => Some(value),
            _ => None,
        }
    }
}

/// The value of the one cookie called `name` in any `Cookie` header: `None` when there is none,
/// when its value is empty, and when the name appears more than once (see [`CookieLookup`]).
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    CookieLookup::find(headers, name).value()
}

/// A header value as text. `HeaderValue::to_str` checks byte by byte in code built with the
/// caller's optimisation level (a 4 MiB header takes 70 ms in a debug build); the standard
/// library's UTF-8 check is always optimised. Non-ASCII text passes here and fails later: a token
/// is base64url, and a cookie name is compared exactly.
fn header_str(value: &axum::http::HeaderValue) -> Option<&str> {
    std::str::from_utf8(value.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr  abc "] {
            assert_eq!(
                bearer_token(&headers(&[("authorization", v)])),
                Some("abc"),
                "{v}"
            );
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_none() {
        for v in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "Token abc"] {
            assert_eq!(bearer_token(&headers(&[("authorization", v)])), None, "{v}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn text_that_is_not_ascii_hides_no_token() {
        let mut h = HeaderMap::new();
        let other = HeaderValue::from_bytes("lang=français; access-token=tok".as_bytes()).unwrap();
        h.append("cookie", other);
        assert_eq!(cookie_value(&h, "access-token"), Some("tok"));
        let mut h = HeaderMap::new();
        h.append(
            "authorization",
            HeaderValue::from_bytes("Bearer tökén".as_bytes()).unwrap(),
        );
        assert_eq!(
            bearer_token(&h),
            Some("tökén"),
            "handed on, and refused as base64url"
        );
        h.insert("authorization", HeaderValue::from_bytes(b"Bearer \xff").unwrap());
        assert_eq!(bearer_token(&h), None);
    }

    #[test]
    fn cookie_is_found_among_others_and_headers() {
        let h = headers(&[("cookie", "a=1; b=2"), ("cookie", "access-token=tok; c=3")]);
        assert_eq!(cookie_value(&h, "access-token"), Some("tok"));
        assert_eq!(cookie_value(&h, "b"), Some("2"));
        assert_eq!(cookie_value(&h, "access"), None);
        let h = headers(&[("cookie", "access-token=")]);
        assert_eq!(cookie_value(&h, "access-token"), None);
        let h = headers(&[("cookie", "access-token=\"q\"")]);
        assert_eq!(cookie_value(&h, "access-token"), Some("q"));
    }

    #[test]
    fn a_repeated_cookie_has_no_value() {
        // A tossed cookie (narrower path) comes first, in the same header or in another one.
        for pairs in [
            &[("cookie", "access-token=attacker; access-token=victim")][..],
            &[
                ("cookie", "access-token=attacker"),
                ("cookie", "a=1; access-token=victim"),
            ],
            &[("cookie", "access-token=; access-token=victim")],
            &[("cookie", "access-token=victim; access-token=victim")],
        ] {
            let h = headers(pairs);
            assert_eq!(
                CookieLookup::find(&h, "access-token"),
                CookieLookup::Repeated,
                "{pairs:?}"
            );
            assert_eq!(cookie_value(&h, "access-token"), None, "{pairs:?}");
        }
        // Other names, and names that differ only in case, are other cookies.
        let h = headers(&[("cookie", "access-token=tok; Access-Token=x; access-token2=y")]);
        assert_eq!(cookie_value(&h, "access-token"), Some("tok"));
        assert_eq!(CookieLookup::find(&h, "access"), CookieLookup::Absent);
        assert_eq!(
            CookieLookup::find(&headers(&[("cookie", "access-token=")]), "access-token"),
            CookieLookup::One("")
        );
    }
}
