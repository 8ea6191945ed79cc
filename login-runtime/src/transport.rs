//! Reading a token from the `Authorization` header and from a cookie, without allocating.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use cookie::Cookie;

/// The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = header_str(headers.get(AUTHORIZATION)?)?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_matches(' ');
    (!token.is_empty()).then_some(token)
}

/// The value of the first cookie called `name` in any `Cookie` header (parsed by the `cookie` crate,
/// borrowed from the request, surrounding double quotes removed).
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(header_str)
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
        .map(|v| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v))
        .filter(|v| !v.is_empty())
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
}
