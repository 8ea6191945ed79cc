//! The extractor end to end: a request with fuzzed `Authorization` and `Cookie` headers (the
//! `header` target's input format) through `Authenticated<User>` and `Option<Authenticated<User>>`
//! on a manager reading both. It may admit a user only for a token this manager signed, and must
//! admit one whenever a candidate token verifies and names a known user.
#![no_main]

use std::sync::OnceLock;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use login_fuzz::{USERS, User, both, signed_by_us, split_lines};
use login_runtime::{AuthRejection, Authenticated, LoginManager};
use tokio::runtime::{Builder, Runtime};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Builder::new_current_thread().build().expect("a runtime"))
}

fuzz_target!(|data: &[u8]| {
    let (auth, cookies) = split_lines(data);
    let mut request = Request::builder().uri("/me");
    if let Some(value) = auth.and_then(|a| HeaderValue::from_bytes(a).ok()) {
        request = request.header(AUTHORIZATION, value);
    }
    for value in cookies.iter().filter_map(|c| HeaderValue::from_bytes(c).ok()) {
        request = request.header(COOKIE, value);
    }
    let (mut parts, ()) = request.body(()).expect("valid request").into_parts();
    let manager: LoginManager = both().clone();

    let (required, optional) = runtime().block_on(async {
        let required =
            <Authenticated<User> as FromRequestParts<LoginManager>>::from_request_parts(&mut parts, &manager)
                .await;
        let optional = <Authenticated<User> as OptionalFromRequestParts<LoginManager>>::from_request_parts(
            &mut parts, &manager,
        )
        .await;
        (required, optional)
    });

    // What the extractor should have done: the first candidate that verifies, if its user exists.
    let good = manager
        .tokens_in(&parts)
        .into_iter()
        .flatten()
        .find_map(|token| manager.decode(token).ok().map(|claims| (token, claims)));
    let expected = good.filter(|(_, claims)| USERS.contains(&claims.sub.as_str()));

    match (&required, &optional) {
        (Ok(auth), Ok(Some(opt))) => {
            let (token, claims) = expected.expect("admitted without a good token for a known user");
            assert!(signed_by_us(token), "admitted a token we did not sign: {token:?}");
            assert_eq!(
                auth.claims, claims,
                "claims of another token than the first good one"
            );
            assert_eq!(
                auth.user,
                User {
                    name: claims.sub.clone()
                }
            );
            assert_eq!((&opt.user, &opt.claims), (&auth.user, &auth.claims));
        }
        (Err(AuthRejection::Unauthenticated(response)), Ok(None)) => {
            assert_eq!(response.status(), 401);
            assert!(
                expected.is_none(),
                "refused a good token for a known user: {expected:?}"
            );
        }
        (required, optional) => panic!(
            "unexpected outcome: required {:?}, optional {:?}",
            required.as_ref().map(|a| &a.user),
            optional.as_ref().map(|o| o.as_ref().map(|a| &a.user))
        ),
    }
});
