//! Header parsing: the first line of the input is an `Authorization` value, each further line a
//! `Cookie` header; `LoginManager::token_in`, `CookieLookup` and `LoginManager::tokens_in` must
//! never panic and must return non-empty, trimmed slices of the headers they read.
#![no_main]

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use login_fuzz::{COOKIE as COOKIE_NAME, borrowed_from, both, cookie_only, plain, split_lines};
use login_runtime::{CookieLookup, Transport};

fuzz_target!(|data: &[u8]| {
    let (auth, cookies) = split_lines(data);
    let mut request = Request::builder().uri("/");
    let mut headers = HeaderMap::new();
    if let Some(value) = auth.and_then(|a| HeaderValue::from_bytes(a).ok()) {
        headers.append(AUTHORIZATION, value.clone());
        request = request.header(AUTHORIZATION, value);
    }
    for value in cookies.iter().filter_map(|c| HeaderValue::from_bytes(c).ok()) {
        headers.append(COOKIE, value.clone());
        request = request.header(COOKIE, value);
    }

    let bearer = plain().token_in(&headers, Transport::Header);
    if let Some(token) = bearer {
        let value = headers.get(AUTHORIZATION).expect("a token comes from the header");
        assert!(!token.is_empty());
        assert!(
            !token.starts_with(' ') && !token.ends_with(' '),
            "untrimmed {token:?}"
        );
        assert!(
            borrowed_from(token, value.as_bytes()),
            "not a slice of the header"
        );
        let text = std::str::from_utf8(value.as_bytes()).expect("a token comes from UTF-8 text");
        let (scheme, _) = text.split_once(' ').unwrap();
        assert!(scheme.eq_ignore_ascii_case("bearer"), "scheme {scheme:?}");
    }

    // The cookie name: the fixed one, and the first cookie line's first `=`-delimited word.
    let fuzzed_name = cookies
        .first()
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.split_once('='))
        .map(|(name, _)| name.trim());
    let mut cookie = None;
    for name in [Some(COOKIE_NAME), fuzzed_name].into_iter().flatten() {
        let found = CookieLookup::find(&headers, name).value();
        if let Some(value) = found {
            assert!(!value.is_empty());
            assert!(
                headers
                    .get_all(COOKIE)
                    .iter()
                    .any(|h| borrowed_from(value, h.as_bytes())),
                "cookie value {value:?} is not a slice of a Cookie header"
            );
        }
        if name == COOKIE_NAME {
            cookie = found;
        }
    }

    let (parts, ()) = request.body(()).expect("valid request").into_parts();
    assert_eq!(plain().tokens_in(&parts), [bearer, None]);
    assert_eq!(both().tokens_in(&parts), [bearer, cookie]);
    assert_eq!(cookie_only().tokens_in(&parts), [None, cookie]);
});
