//! Every row of `docs/contract/login-http.md`, against the `login` example, in-process and over
//! a real socket, plus the token attacks of the core issue.

mod support;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use login_runtime::LoginManager;
use serde_json::{Value, json};
use support::{Req, Via, now};

const SECRET: &str = "a-test-secret-that-is-32-bytes-long!";
const JOHN: (&str, &str) = ("johndoe@e.mail", "hunter2");
const ADMIN: (&str, &str) = ("admin@e.mail", "admin-pass");

fn manager() -> LoginManager {
    login_example::Auth::builder().secret(SECRET).build().unwrap()
}

async fn vias() -> [Via; 2] {
    Via::both(login_example::app(manager())).await
}

fn sign_with(alg: Algorithm, secret: &[u8], claims: &Value) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn sign(claims: Value) -> String {
    sign_with(Algorithm::HS256, SECRET.as_bytes(), &claims)
}

async fn login(via: &Via, (user, pass): (&str, &str)) -> String {
    let res = via
        .send(Req::post("/auth/token").form(&[("username", user), ("password", pass)]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}: {}", via.name(), res.text());
    res.json()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn token_login_returns_a_bearer_token_in_fastapi_login_shape() {
    for via in vias().await {
        let res = via
            .send(Req::post("/auth/token").form(&[("username", JOHN.0), ("password", JOHN.1)]))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", via.name());
        let body = res.json();
        assert_eq!(body["token_type"], "bearer");
        let claims = manager().decode(body["access_token"].as_str().unwrap()).unwrap();
        assert_eq!(claims.sub, JOHN.0);
        assert_eq!(
            claims.exp - claims.iat.unwrap(),
            15 * 60,
            "default expiry is 15 minutes"
        );
        assert!(claims.scopes.is_empty());

        let admin = manager().decode(&login(&via, ADMIN).await).unwrap();
        assert_eq!(admin.scopes, ["admin"]);
    }
}

#[tokio::test]
async fn token_login_refuses_bad_credentials_with_401() {
    for via in vias().await {
        for (user, pass) in [
            (JOHN.0, "wrong"),
            ("nobody@e.mail", "hunter2"),
            (JOHN.0, ""),
            (ADMIN.0, JOHN.1),
        ] {
            let res = via
                .send(Req::post("/auth/token").form(&[("username", user), ("password", pass)]))
                .await;
            res.assert_unauthenticated(&format!("{} {user}/{pass}", via.name()));
        }
        let res = via
            .send(Req::post("/auth/token").form(&[("username", JOHN.0)]))
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing password is a validation error"
        );
    }
}

#[tokio::test]
async fn protected_needs_a_valid_token_and_hides_the_password() {
    for via in vias().await {
        let token = login(&via, JOHN).await;
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let res = via
                .send(Req::get("/protected").header("authorization", &format!("{scheme} {token}")))
                .await;
            assert_eq!(res.status, StatusCode::OK, "{} {scheme}", via.name());
            assert_eq!(res.json(), json!({"user": {"email": JOHN.0, "scopes": []}}));
            assert!(!res.text().contains("hunter2"));
        }
        via.send(Req::get("/protected"))
            .await
            .assert_unauthenticated("no token");
        via.send(Req::get("/protected").header("authorization", &format!("Basic {token}")))
            .await
            .assert_unauthenticated("basic scheme");
    }
}

#[tokio::test]
async fn cookie_and_header_transports() {
    for via in vias().await {
        let token = login(&via, JOHN).await;
        let by_cookie = via
            .send(Req::get("/protected").cookie("access-token", &token))
            .await;
        assert_eq!(by_cookie.status, StatusCode::OK, "{}", via.name());
        let bad_cookie_good_header = via
            .send(
                Req::get("/protected")
                    .cookie("access-token", "garbage")
                    .bearer(&token),
            )
            .await;
        assert_eq!(
            bad_cookie_good_header.status,
            StatusCode::OK,
            "a bad cookie must not hide a good header"
        );
        let bad_header_good_cookie = via
            .send(
                Req::get("/protected")
                    .cookie("access-token", &token)
                    .bearer("garbage"),
            )
            .await;
        assert_eq!(bad_header_good_cookie.status, StatusCode::OK);
        via.send(Req::get("/protected").cookie("other-cookie", &token))
            .await
            .assert_unauthenticated("wrong cookie");
    }
}

#[tokio::test]
async fn optional_gives_null_for_anonymous_and_bad_tokens() {
    for via in vias().await {
        let token = login(&via, JOHN).await;
        let anonymous = via.send(Req::get("/optional")).await;
        assert_eq!(
            (anonymous.status, anonymous.json()),
            (StatusCode::OK, json!({"user": null}))
        );
        let bad = via.send(Req::get("/optional").bearer("not.a.token")).await;
        assert_eq!((bad.status, bad.json()), (StatusCode::OK, json!({"user": null})));
        let expired = sign(json!({"sub": JOHN.0, "exp": now() - 60}));
        assert_eq!(
            via.send(Req::get("/optional").bearer(&expired)).await.json(),
            json!({"user": null})
        );
        let good = via.send(Req::get("/optional").bearer(&token)).await;
        assert_eq!(good.json()["user"]["email"], JOHN.0, "{}", via.name());
    }
}

#[tokio::test]
async fn admin_needs_the_admin_scope() {
    for via in vias().await {
        let admin = via
            .send(Req::get("/admin").bearer(&login(&via, ADMIN).await))
            .await;
        assert_eq!(admin.status, StatusCode::OK, "{}", via.name());
        assert_eq!(admin.json()["user"]["email"], ADMIN.0);

        let john = via
            .send(Req::get("/admin").bearer(&login(&via, JOHN).await))
            .await;
        assert_eq!(john.status, StatusCode::FORBIDDEN);
        assert_eq!(
            john.header("www-authenticate"),
            Some(r#"Bearer error="insufficient_scope""#)
        );

        via.send(Req::get("/admin"))
            .await
            .assert_unauthenticated("anonymous admin");
        // fastapi-login substring-matches a string `scopes`; here such a token is invalid.
        let sneaky = sign(json!({"sub": JOHN.0, "exp": now() + 600, "scopes": "not-admin-really"}));
        via.send(Req::get("/admin").bearer(&sneaky))
            .await
            .assert_unauthenticated("string scopes");
    }
}

#[tokio::test]
async fn cookie_login_sets_the_cookie_and_redirects_to_the_dashboard() {
    for via in vias().await {
        let res = via
            .send(Req::post("/auth/cookie").form(&[("username", JOHN.0), ("password", JOHN.1)]))
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", via.name());
        assert_eq!(res.header("location"), Some("/dashboard"));
        let set_cookie = res.header("set-cookie").unwrap();
        let (pair, attributes) = set_cookie.split_once(';').unwrap();
        let token = pair.strip_prefix("access-token=").unwrap();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=900", "Secure"] {
            assert!(
                attributes.split(';').any(|a| a.trim() == attribute),
                "{attribute} in {set_cookie}"
            );
        }
        assert_eq!(manager().decode(token).unwrap().sub, JOHN.0);

        let dashboard = via
            .send(Req::get("/dashboard").cookie("access-token", token))
            .await;
        assert_eq!(dashboard.status, StatusCode::OK);
        assert!(dashboard.header("content-type").unwrap().starts_with("text/html"));
        assert!(dashboard.text().contains(JOHN.0));

        let bad = via
            .send(Req::post("/auth/cookie").form(&[("username", JOHN.0), ("password", "nope")]))
            .await;
        bad.assert_unauthenticated("cookie login with a wrong password");
        assert!(bad.header("set-cookie").is_none());
    }
}

#[tokio::test]
async fn dashboard_redirects_anonymous_visitors_to_the_login_page() {
    for via in vias().await {
        for req in [
            Req::get("/dashboard"),
            Req::get("/dashboard").cookie("access-token", "expired.or.bad"),
        ] {
            let res = via.send(req).await;
            assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", via.name());
            assert_eq!(res.header("location"), Some("/login"));
        }
        let page = via.send(Req::get("/login")).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.text();
        for part in [
            "action=/auth/cookie",
            "method=post",
            "name=username",
            "name=password",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
    }
}

/// Each of these must be refused with the same 401 as no token at all.
fn attacks() -> Vec<(&'static str, String)> {
    let ok = json!({"sub": JOHN.0, "exp": now() + 600});
    let good = sign(ok.clone());
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let none = |alg: &str| {
        format!(
            "{}.{}.",
            B64.encode(json!({"alg": alg, "typ": "JWT"}).to_string()),
            B64.encode(ok.to_string())
        )
    };
    let admin_payload = B64.encode(json!({"sub": ADMIN.0, "exp": now() + 600}).to_string());
    vec![
        ("alg none", none("none")),
        ("alg None", none("None")),
        ("alg NONE", none("NONE")),
        (
            "none with the old signature",
            format!("{}{signature}", none("none")),
        ),
        ("stripped signature", format!("{head}.{payload}.")),
        ("two segments", format!("{head}.{payload}")),
        ("tampered payload", format!("{head}.{admin_payload}.{signature}")),
        (
            "wrong key",
            sign_with(Algorithm::HS256, b"another-secret-of-32-bytes-or-more!!", &ok),
        ),
        (
            "HS512 for an HS256 key",
            sign_with(Algorithm::HS512, SECRET.as_bytes(), &ok),
        ),
        ("expired", sign(json!({"sub": JOHN.0, "exp": now() - 5}))),
        (
            "future nbf",
            sign(json!({"sub": JOHN.0, "exp": now() + 600, "nbf": now() + 300})),
        ),
        (
            "future iat",
            sign(json!({"sub": JOHN.0, "exp": now() + 600, "iat": now() + 300})),
        ),
        ("missing exp", sign(json!({"sub": JOHN.0}))),
        ("missing sub", sign(json!({"exp": now() + 600}))),
        ("numeric sub", sign(json!({"sub": 1, "exp": now() + 600}))),
        (
            "unknown user",
            sign(json!({"sub": "ghost@e.mail", "exp": now() + 600})),
        ),
        (
            "string scopes",
            sign(json!({"sub": JOHN.0, "exp": now() + 600, "scopes": "admin"})),
        ),
        (
            "oversize token",
            sign(json!({"sub": JOHN.0, "exp": now() + 600, "pad": "x".repeat(9000)})),
        ),
        ("garbage", "definitely not a token".to_owned()),
    ]
}

#[tokio::test]
async fn token_attacks_are_all_refused_with_the_same_401() {
    for via in vias().await {
        for (name, token) in attacks() {
            let res = via.send(Req::get("/protected").bearer(&token)).await;
            res.assert_unauthenticated(&format!("{} {name}", via.name()));
            let res = via
                .send(Req::get("/protected").cookie("access-token", &token))
                .await;
            res.assert_unauthenticated(&format!("{} {name} (cookie)", via.name()));
        }
    }
}

/// Tokens made by fastapi-login 1.10 and PyJWT with the same secret (tests/fixtures, generated by
/// tests/fixtures/make_python_tokens.py with a 50-year expiry).
#[tokio::test]
async fn tokens_from_fastapi_login_and_pyjwt_are_accepted() {
    let fixtures: Value = serde_json::from_str(include_str!("fixtures/python_tokens.json")).unwrap();
    let manager = login_example::Auth::builder()
        .secret(fixtures["secret"].as_str().unwrap())
        .build()
        .unwrap();
    for via in Via::both(login_example::app(manager)).await {
        for (name, expect_admin) in [
            ("fastapi_login", false),
            ("fastapi_login_admin", true),
            ("pyjwt", false),
        ] {
            let token = fixtures[name].as_str().unwrap();
            let res = via.send(Req::get("/protected").bearer(token)).await;
            assert_eq!(
                res.status,
                StatusCode::OK,
                "{} {name}: {}",
                via.name(),
                res.text()
            );
            let admin = via.send(Req::get("/admin").bearer(token)).await;
            let expected = if expect_admin {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(admin.status, expected, "{} {name} on /admin", via.name());
        }
    }
}

#[test]
fn a_short_secret_from_the_environment_is_a_startup_error_naming_the_setting() {
    let err = login_example::Auth::builder()
        .secret("short")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "secret");
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
}
