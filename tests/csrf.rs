//! CSRF protection of the cookie transport, over a real socket: a state-changing request a browser
//! sends from another site with the login cookie gets 403 and changes nothing; the same request
//! from the site itself, from a trusted origin, from a non-browser client, or with a bearer token
//! works; safe methods are never checked; the cookie login refuses cross-site forms.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use login_users::{MemoryStore, UserStore, Users};
use serde_json::{Value, json};
use support::{Req, Res, Via};

const SECRET: &str = "csrf-tests-secret-0123456789abcdef012345";
const COOKIE: &str = "fastapiusersauth";
const REFUSED: &str = r#"{"detail":"Cross-site request refused"}"#;

struct App {
    http: Via,
    store: Arc<MemoryStore>,
    /// `127.0.0.1:<port>`, the `Host` a client sends.
    host: String,
}

async fn app_with(configure: impl FnOnce(login_users::UsersBuilder) -> login_users::UsersBuilder) -> App {
    let store = Arc::new(MemoryStore::default());
    let dyn_store: Arc<dyn UserStore> = store.clone();
    let users = configure(Users::builder(dyn_store).secret(SECRET))
        .build()
        .unwrap();
    let http = Via::http(users_example::app(users)).await;
    let Via::Http { base, .. } = &http else {
        unreachable!()
    };
    let host = base.trim_start_matches("http://").to_owned();
    App { http, store, host }
}

async fn app() -> App {
    app_with(|b| b).await
}

impl App {
    /// Registers and logs in through the cookie backend (as a non-browser client), returning the
    /// cookie's value.
    async fn cookie_for(&self, email: &str) -> String {
        let res = self
            .http
            .send(Req::post("/auth/register").json(&json!({"email": email, "password": "a-good-password"})))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        let res = self.login(Req::post("/auth/cookie/login"), email).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
        let set = res.header("set-cookie").unwrap();
        let value = set
            .split(';')
            .next()
            .unwrap()
            .strip_prefix(&format!("{COOKIE}="))
            .unwrap();
        value.to_owned()
    }

    async fn login(&self, req: Req, email: &str) -> Res {
        self.http
            .send(req.form(&[("username", email), ("password", "a-good-password")]))
            .await
    }

    /// `PATCH /users/me` setting a new email, with the cookie and `headers`.
    async fn patch_email(&self, cookie: &str, new_email: &str, headers: &[(&str, &str)]) -> Res {
        let mut req = Req::patch("/users/me")
            .cookie(COOKIE, cookie)
            .json(&json!({ "email": new_email }));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        self.http.send(req).await
    }

    async fn has_user(&self, email: &str) -> bool {
        self.store.get_by_email(email).await.unwrap().is_some()
    }
}

fn assert_refused(res: &Res, context: &str) {
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{context}: {}", res.text());
    assert_eq!(res.text(), REFUSED, "{context}");
    assert!(
        res.header("set-cookie").is_none(),
        "{context}: no cookie on a refusal"
    );
}

#[tokio::test]
async fn cross_site_state_changes_with_the_cookie_are_refused_and_change_nothing() {
    let app = app().await;
    let cookie = app.cookie_for("ann@example.com").await;
    let forged: [&[(&str, &str)]; 5] = [
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ],
        // Same site, other origin (another port or subdomain): still refused.
        &[("sec-fetch-site", "same-site"), ("origin", "http://127.0.0.1:1")],
        // No Fetch Metadata (older browser): an Origin that is not this host.
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
    ];
    for (i, headers) in forged.iter().enumerate() {
        let res = app
            .patch_email(&cookie, &format!("evil{i}@example.com"), headers)
            .await;
        assert_refused(&res, &format!("PATCH /users/me with {headers:?}"));
        assert!(
            !app.has_user(&format!("evil{i}@example.com")).await,
            "{headers:?}: nothing changed"
        );
    }
    assert!(app.has_user("ann@example.com").await);

    // Logout and DELETE too.
    let logout = Req::post("/auth/cookie/logout")
        .cookie(COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site");
    assert_refused(&app.http.send(logout).await, "cookie logout");
    let me = app.http.send(Req::get("/users/me").cookie(COOKIE, &cookie)).await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "the cookie still works after the refused logout"
    );
}

#[tokio::test]
async fn the_site_itself_non_browser_clients_and_bearer_tokens_pass() {
    let app = app().await;
    let cookie = app.cookie_for("bob@example.com").await;
    let own_origin = format!("http://{}", app.host);
    let allowed: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "same-origin fetch".into(),
            vec![("sec-fetch-site", "same-origin"), ("origin", &own_origin)],
        ),
        ("typed by the user".into(), vec![("sec-fetch-site", "none")]),
        ("Origin is this host".into(), vec![("origin", &own_origin)]),
        ("no browser headers (curl)".into(), vec![]),
    ];
    for (i, (name, headers)) in allowed.iter().enumerate() {
        let email = format!("bob{i}@example.com");
        let res = app.patch_email(&cookie, &email, headers).await;
        assert_eq!(res.status, StatusCode::OK, "{name}: {}", res.text());
        assert_eq!(res.json()["email"], Value::from(email.clone()), "{name}");
    }

    // A bearer token is never checked: a browser cannot forge the header.
    let login = app.login(Req::post("/auth/jwt/login"), "bob3@example.com").await;
    let token = login.json()["access_token"].as_str().unwrap().to_owned();
    let res = app
        .http
        .send(
            Req::patch("/users/me")
                .bearer(&token)
                .header("sec-fetch-site", "cross-site")
                .header("origin", "https://evil.example")
                .json(&json!({"email": "bearer@example.com"})),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "bearer + cross-site headers: {}",
        res.text()
    );

    // Safe methods are not checked: a cross-site GET with the cookie reads (no state changes).
    let me = app
        .http
        .send(
            Req::get("/users/me")
                .cookie(COOKIE, &cookie)
                .header("sec-fetch-site", "cross-site")
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
}

#[tokio::test]
async fn trusted_origins_may_send_cookie_requests_and_bad_ones_fail_the_build() {
    let app = app_with(|b| b.csrf_trusted_origin("https://app.example.com")).await;
    let cookie = app.cookie_for("cat@example.com").await;
    let from_app = [
        ("sec-fetch-site", "same-site"),
        ("origin", "https://app.example.com"),
    ];
    let res = app.patch_email(&cookie, "cat2@example.com", &from_app).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let other = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://other.example.com"),
    ];
    assert_refused(
        &app.patch_email(&cookie, "cat3@example.com", &other).await,
        "untrusted origin",
    );

    let store: Arc<dyn UserStore> = Arc::new(MemoryStore::default());
    let err = Users::builder(store)
        .secret(SECRET)
        .csrf_trusted_origin("app.example.com/path")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "csrf_trusted_origin", "{err}");
}

#[tokio::test]
async fn the_check_can_be_turned_off() {
    let app = app_with(|b| b.csrf_check(false)).await;
    let cookie = app.cookie_for("dan@example.com").await;
    let forged = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ];
    let res = app.patch_email(&cookie, "dan2@example.com", &forged).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

#[tokio::test]
async fn cookie_logins_refuse_cross_site_forms() {
    // Login CSRF: a forged form would log the victim into the attacker's account.
    let app = app().await;
    app.cookie_for("eve@example.com").await;
    let forged = Req::post("/auth/cookie/login")
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example");
    assert_refused(&app.login(forged, "eve@example.com").await, "users cookie login");
    let own = Req::post("/auth/cookie/login").header("sec-fetch-site", "same-origin");
    assert_eq!(
        app.login(own, "eve@example.com").await.status,
        StatusCode::NO_CONTENT
    );
    // The bearer login sets no cookie and is not checked.
    let bearer = Req::post("/auth/jwt/login").header("sec-fetch-site", "cross-site");
    assert_eq!(app.login(bearer, "eve@example.com").await.status, StatusCode::OK);

    // The `login` example's cookie form too.
    let manager = login_example::Auth::builder().secret(SECRET).build().unwrap();
    let login = Via::http(login_example::app(manager)).await;
    let form = [("username", "johndoe@e.mail"), ("password", "hunter2")];
    let res = login
        .send(
            Req::post("/auth/cookie")
                .header("sec-fetch-site", "cross-site")
                .form(&form),
        )
        .await;
    assert_refused(&res, "login example cookie form");
    let res = login
        .send(
            Req::post("/auth/cookie")
                .header("sec-fetch-site", "same-origin")
                .form(&form),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    assert!(res.header("set-cookie").is_some());
}
