//! Cookie tossing, over a real socket: a page of another port or of a sibling subdomain adds a
//! cookie of the auth name with a narrower path, which the browser sends before the victim's own.
//! A request carrying the auth cookie twice is unauthenticated (the victim's front end must not act
//! on the attacker's account), and the answer clears the cookie at `/` and at every ancestor path
//! of the request. A good bearer token still authenticates such a request; the cookies never do.
//! Both examples: `users` (`fastapiusersauth`) and `login` (`access-token`).

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use login_users::{MemoryStore, UserStore, Users};
use serde_json::json;
use support::{Req, Res, Via};

const SECRET: &str = "cookie-tossing-tests-secret-0123456789abcdef";
const COOKIE: &str = "fastapiusersauth";
const PASSWORD: &str = "a-good-password";

struct App {
    http: Via,
    store: Arc<MemoryStore>,
}

async fn users_app() -> App {
    let store = Arc::new(MemoryStore::default());
    let dyn_store: Arc<dyn UserStore> = store.clone();
    let users = Users::builder(dyn_store).secret(SECRET).build().unwrap();
    App {
        http: Via::http(users_example::app(users)).await,
        store,
    }
}

impl App {
    /// Registers `email` and logs in on the bearer backend, returning the JWT (the cookie backend
    /// carries the same JWT).
    async fn token_for(&self, email: &str) -> String {
        let res = (self.http)
            .send(Req::post("/auth/register").json(&json!({"email": email, "password": PASSWORD})))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        let res = (self.http)
            .send(Req::post("/auth/jwt/login").form(&[("username", email), ("password", PASSWORD)]))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn email_of(&self, token: &str) -> String {
        let res = self.http.send(Req::get("/users/me").bearer(token)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        res.json()["email"].as_str().unwrap().to_owned()
    }
}

/// `name=first; name=second`, as a browser sends a tossed cookie (longer path first) and the
/// victim's own.
fn tossed(name: &str, first: &str, second: &str) -> String {
    format!("{name}={first}; {name}={second}")
}

/// The paths of the response's removal cookies for `name` (`Max-Age=0`), in order.
fn cleared_paths(res: &Res, name: &str) -> Vec<String> {
    (res.headers.get_all("set-cookie").iter())
        .map(|v| v.to_str().unwrap())
        .filter(|v| v.starts_with(&format!("{name}=;")) || v.starts_with(&format!("{name}=\"\";")))
        .inspect(|v| assert!(v.contains("Max-Age=0"), "a removal cookie: {v}"))
        .map(|v| {
            let path = v.split("; ").find_map(|a| a.strip_prefix("Path="));
            path.expect("a removal cookie names its path").to_owned()
        })
        .collect()
}

fn assert_unauthorized(res: &Res, context: &str) {
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{context}: {}", res.text());
    assert_eq!(res.json(), json!({"detail": "Unauthorized"}), "{context}");
}

#[tokio::test]
async fn a_repeated_users_cookie_is_unauthenticated_and_cleared() {
    let app = users_app().await;
    let victim = app
        .token_for(&format!("victim-{}@example.com", uuid::Uuid::new_v4()))
        .await;
    let attacker = app
        .token_for(&format!("attacker-{}@example.com", uuid::Uuid::new_v4()))
        .await;
    for (first, second) in [(&attacker, &victim), (&victim, &attacker), (&victim, &victim)] {
        let res = (app.http)
            .send(Req::get("/users/me").header("cookie", &tossed(COOKIE, first, second)))
            .await;
        assert_unauthorized(&res, "GET /users/me with two auth cookies");
        assert_eq!(
            cleared_paths(&res, COOKIE),
            ["/", "/users", "/users/", "/users/me"],
            "every path a tossed cookie of /users/me can have"
        );
    }
    // An empty tossed cookie counts too, and other cookies in between change nothing.
    let cookie = format!("{COOKIE}=; theme=dark; {COOKIE}={victim}");
    let res = app
        .http
        .send(Req::get("/users/me").header("cookie", &cookie))
        .await;
    assert_unauthorized(&res, "an empty tossed cookie");
    // One cookie still logs in, and its answer clears nothing.
    let res = app.http.send(Req::get("/users/me").cookie(COOKIE, &victim)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.header("set-cookie").is_none());
}

#[tokio::test]
async fn a_tossed_cookie_changes_no_account() {
    let app = users_app().await;
    let victim_email = format!("victim-{}@example.com", uuid::Uuid::new_v4());
    let attacker_email = format!("attacker-{}@example.com", uuid::Uuid::new_v4());
    let victim = app.token_for(&victim_email).await;
    let attacker = app.token_for(&attacker_email).await;
    // The victim's own front end (same origin) changes "its" password and email.
    let res = (app.http)
        .send(
            Req::patch("/users/me")
                .header("cookie", &tossed(COOKIE, &attacker, &victim))
                .header("sec-fetch-site", "same-origin")
                .json(&json!({"email": "changed@example.com", "password": "the-victims-new-password"})),
        )
        .await;
    assert_unauthorized(&res, "PATCH /users/me with a tossed cookie");
    assert_eq!(
        cleared_paths(&res, COOKIE),
        ["/", "/users", "/users/", "/users/me"]
    );
    assert_eq!(
        app.email_of(&attacker).await,
        attacker_email,
        "the attacker's account is untouched"
    );
    assert_eq!(app.email_of(&victim).await, victim_email);
    assert!(
        app.store
            .get_by_email("changed@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // The cookie logout is refused the same way, and clears at its own path's ancestors.
    let res = (app.http)
        .send(Req::post("/auth/cookie/logout").header("cookie", &tossed(COOKIE, &attacker, &victim)))
        .await;
    assert_unauthorized(&res, "cookie logout with a tossed cookie");
    assert_eq!(
        cleared_paths(&res, COOKIE),
        [
            "/",
            "/auth",
            "/auth/",
            "/auth/cookie",
            "/auth/cookie/",
            "/auth/cookie/logout"
        ]
    );
}

#[tokio::test]
async fn a_bearer_token_still_authenticates_beside_repeated_cookies() {
    let app = users_app().await;
    let victim_email = format!("victim-{}@example.com", uuid::Uuid::new_v4());
    let victim = app.token_for(&victim_email).await;
    let attacker = app
        .token_for(&format!("attacker-{}@example.com", uuid::Uuid::new_v4()))
        .await;
    let res = (app.http)
        .send(
            Req::get("/users/me")
                .bearer(&victim)
                .header("cookie", &tossed(COOKIE, &attacker, &attacker)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        res.json()["email"],
        victim_email,
        "the header's user, never a cookie's"
    );
    // A bad header with repeated cookies: nothing authenticates.
    let res = (app.http)
        .send(
            Req::get("/users/me")
                .bearer("not-a-token")
                .header("cookie", &tossed(COOKIE, &attacker, &victim)),
        )
        .await;
    assert_unauthorized(&res, "bad header, repeated cookies");
}

// ---- the `login` example (fastapi-login's `access-token` cookie) ----

const LOGIN_COOKIE: &str = "access-token";

async fn login_app() -> Via {
    let manager = login_example::Auth::builder().secret(SECRET).build().unwrap();
    Via::http(login_example::app(manager)).await
}

async fn login_token(http: &Via, email: &str, password: &str) -> String {
    let res = (http)
        .send(Req::post("/auth/token").form(&[("username", email), ("password", password)]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_repeated_login_cookie_is_unauthenticated_and_cleared() {
    let http = login_app().await;
    let victim = login_token(&http, "johndoe@e.mail", "hunter2").await;
    let attacker = login_token(&http, "admin@e.mail", "admin-pass").await;
    let cookie = tossed(LOGIN_COOKIE, &attacker, &victim);

    let res = http.send(Req::get("/protected").header("cookie", &cookie)).await;
    res.assert_unauthenticated("GET /protected with two access-token cookies");
    assert_eq!(cleared_paths(&res, LOGIN_COOKIE), ["/", "/protected"]);
    for v in res.headers.get_all("set-cookie") {
        let v = v.to_str().unwrap();
        assert!(v.contains("Secure") && v.contains("HttpOnly"), "{v}");
    }

    // The dashboard sends the visitor to the login page, and clears the cookies on the way.
    let res = http.send(Req::get("/dashboard").header("cookie", &cookie)).await;
    assert!(res.status.is_redirection(), "{}: {}", res.status, res.text());
    assert_eq!(res.header("location"), Some("/login"));
    assert_eq!(cleared_paths(&res, LOGIN_COOKIE), ["/", "/dashboard"]);

    // `optional` sees nobody; a bearer token beside the cookies is the user.
    let res = http.send(Req::get("/optional").header("cookie", &cookie)).await;
    assert_eq!(res.json(), json!({"user": null}));
    let res = (http)
        .send(
            Req::get("/protected")
                .bearer(&victim)
                .header("cookie", &tossed(LOGIN_COOKIE, &attacker, &attacker)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["user"]["email"], "johndoe@e.mail");
}
