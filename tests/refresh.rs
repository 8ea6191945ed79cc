//! `docs/contract/tokens-http.md`, "Refresh tokens", over a real socket, on every place the
//! families can live: `memory`, `sqlite` and `postgres` (the users' database; PostgreSQL from
//! `DATABASE_URL`, a schema per test) and `redis` (the Redis of `REDIS_URL`, users on SQLite).
//! Runs as `<store>::<name>`; the `postgres` and `redis` ones are `#[ignore = "needs …"]` (run them
//! with `-- --include-ignored`; without the variable they fail, naming it).
//!
//! Reuse detection counts the losers of a concurrent refresh as reuse (RFC 9700 §4.14 makes no
//! exception): ten refreshes of one token at once get exactly one 200, and then the family is
//! ended, the winner's tokens with it.

mod support;
use support::users_db;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use login_users::{
    MemoryRefreshStore, MemoryRevocations, MemoryStore, REFRESH_TOKEN_LIFETIME, RedisRefreshStore,
    RedisStore, RefreshStore, RevocationStore, Throttle, User, UserHooks, UserStore, Users,
};
use serde_json::{Value, json};
use support::{Req, Res, Via};
use users_db::{StoreKind, TestDb};

const SECRET: &str = "refresh-test-secret-0123456789abcdefgh";
const PASSWORD: &str = "guinevere";

/// Records the hooks' calls and the reset tokens mailed.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn calls(&self, prefix: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl UserHooks for Recorder {
    async fn on_after_refresh(&self, user: &User) {
        self.0.lock().unwrap().push(format!("refresh {}", user.email));
    }

    async fn on_refresh_reuse(&self, user: &User) {
        self.0.lock().unwrap().push(format!("reuse {}", user.email));
    }

    async fn on_after_forgot_password(&self, _user: &User, token: &str) {
        self.0.lock().unwrap().push(format!("reset {token}"));
    }
}

/// Where the families (and the JWT revocations) live.
#[derive(Clone, Copy, Debug)]
enum Store {
    Memory,
    Sqlite,
    Postgres,
    Redis,
}

/// The users, the JWT revocations, the refresh families, and the database they live in.
type Stores = (
    Arc<dyn UserStore>,
    Arc<dyn RevocationStore>,
    Arc<dyn RefreshStore>,
    Option<TestDb>,
);

struct Server {
    http: Via,
    users: Users,
    hooks: Recorder,
    _db: Option<TestDb>,
}

impl Server {
    async fn start(store: Store) -> Self {
        Self::start_with(store, REFRESH_TOKEN_LIFETIME).await
    }

    /// The `users` example's app with refresh tokens on (families living `lifetime`).
    async fn start_with(store: Store, lifetime: Duration) -> Self {
        let hooks = Recorder::default();
        let (users, revocations, refresh, db): Stores = match store {
            Store::Memory => (
                Arc::new(MemoryStore::default()),
                Arc::new(MemoryRevocations::default()),
                Arc::new(MemoryRefreshStore::default()),
                None,
            ),
            Store::Sqlite | Store::Postgres => {
                let kind = match store {
                    Store::Postgres => StoreKind::postgres(),
                    _ => StoreKind::Sqlite,
                };
                let db = TestDb::empty(&kind).await;
                (
                    Arc::clone(&db.store),
                    db.revocations(),
                    db.refresh_tokens().await,
                    Some(db),
                )
            }
            Store::Redis => {
                let url = support::needs("REDIS_URL");
                let redis = RedisStore::connect(&url).await.unwrap();
                let db = TestDb::empty(&StoreKind::Sqlite).await;
                (
                    Arc::clone(&db.store),
                    Arc::new(redis.clone()),
                    Arc::new(RedisRefreshStore::new(&redis)),
                    Some(db),
                )
            }
        };
        let users = Users::builder(users)
            .hooks(hooks.clone())
            .throttle(Throttle::disabled())
            .revocation(revocations)
            .refresh_tokens(refresh, lifetime)
            .secret(SECRET)
            .build()
            .unwrap();
        let http = Via::http(users_example::app(users.clone())).await;
        Self {
            http,
            users,
            hooks,
            _db: db,
        }
    }

    async fn send(&self, req: Req) -> Res {
        self.http.send(req).await
    }

    /// A new active user with [`PASSWORD`]; its email.
    async fn user(&self, name: &str) -> String {
        let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
        let res = self
            .send(Req::post("/auth/register").json(&json!({ "email": email, "password": PASSWORD })))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        email
    }

    /// `POST /auth/jwt/login`: the body (access token, refresh token, …).
    async fn login(&self, email: &str, password: &str) -> Value {
        let res = self
            .send(Req::post("/auth/jwt/login").form(&[("username", email), ("password", password)]))
            .await;
        assert_eq!(res.status, StatusCode::OK, "login {email}: {}", res.text());
        res.json()
    }

    /// `POST /auth/cookie/login`: the auth cookie's and the refresh cookie's values.
    async fn cookie_login(&self, email: &str) -> (String, String) {
        let res = self
            .send(Req::post("/auth/cookie/login").form(&[("username", email), ("password", PASSWORD)]))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
        (
            cookie(&res, "fastapiusersauth").expect("the auth cookie"),
            cookie(&res, "fastapiusersrefresh").expect("the refresh cookie"),
        )
    }

    async fn refresh(&self, token: &str) -> Res {
        self.send(
            Req::post("/auth/jwt/refresh").form(&[("grant_type", "refresh_token"), ("refresh_token", token)]),
        )
        .await
    }

    async fn cookie_refresh(&self, token: &str) -> Res {
        self.send(Req::post("/auth/cookie/refresh").cookie("fastapiusersrefresh", token))
            .await
    }

    async fn me(&self, access: &str) -> StatusCode {
        self.send(Req::get("/users/me").bearer(access)).await.status
    }
}

/// The value of the `Set-Cookie` named `name`.
fn cookie(res: &Res, name: &str) -> Option<String> {
    set_cookie(res, name).and_then(|c| {
        c.strip_prefix(&format!("{name}="))
            .and_then(|rest| rest.split(';').next())
            .map(str::to_owned)
    })
}

/// The whole `Set-Cookie` header named `name`.
fn set_cookie(res: &Res, name: &str) -> Option<String> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

fn str_of<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {body}"))
}

fn assert_error(res: &Res, error: &str, context: &str) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{context}: {}", res.text());
    assert_eq!(res.json(), json!({ "error": error }), "{context}");
    assert_eq!(res.header("cache-control"), Some("no-store"), "{context}");
}

/// Runs each `async fn name(store: Store)` as `<store>::<name>`.
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod memory { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(super::Store::Memory).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(super::Store::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] #[ignore = "needs DATABASE_URL"] async fn $name() { super::$name(super::Store::Postgres).await } )* }
        mod redis { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] #[ignore = "needs REDIS_URL"] async fn $name() { super::$name(super::Store::Redis).await } )* }
    };
}

on_every_store!(
    login_answers_a_refresh_token,
    a_refresh_rotates_and_the_spent_token_is_refused,
    reuse_ends_the_whole_family_and_only_it,
    bad_requests_get_rfc6749_errors,
    ten_concurrent_refreshes_have_one_winner,
    logout_ends_the_family,
    every_change_ends_every_family,
    a_family_lives_its_lifetime_whatever_the_rotations,
    cookie_backend_refreshes_with_its_own_cookie,
);

// ---------------------------------------------------------------------------------------------
// The contract's points.
// ---------------------------------------------------------------------------------------------

/// `POST /auth/jwt/login` answers `{"access_token", "token_type": "bearer", "refresh_token",
/// "expires_in": 3600}`; the refresh token is opaque, 256 random bits in base64url.
async fn login_answers_a_refresh_token(store: Store) {
    let server = Server::start(store).await;
    let email = server.user("login").await;
    let body = server.login(&email, PASSWORD).await;
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["access_token", "token_type", "refresh_token", "expires_in"],
        "{body}"
    );
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let refresh = str_of(&body, "refresh_token");
    assert_eq!(B64.decode(refresh).unwrap().len(), 32, "256 bits: {refresh}");
    assert!(!refresh.contains('.'), "opaque, not a JWT: {refresh}");
    assert_eq!(server.me(str_of(&body, "access_token")).await, StatusCode::OK);
    let other = server.login(&email, PASSWORD).await;
    assert_ne!(
        other["refresh_token"], body["refresh_token"],
        "a family per login"
    );
}

/// A refresh answers 200 with a new access token and a new refresh token (rotation), with
/// `Cache-Control: no-store`; the new access token works; the presented token is spent.
async fn a_refresh_rotates_and_the_spent_token_is_refused(store: Store) {
    let server = Server::start(store).await;
    let email = server.user("rotate").await;
    let login = server.login(&email, PASSWORD).await;
    let first = str_of(&login, "refresh_token");
    let res = server.refresh(first).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["access_token", "token_type", "refresh_token", "expires_in"]
    );
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let second = str_of(&body, "refresh_token");
    assert_ne!(second, first, "rotation");
    assert_ne!(body["access_token"], login["access_token"]);
    assert_eq!(server.me(str_of(&body, "access_token")).await, StatusCode::OK);
    assert_eq!(server.hooks.calls("refresh").len(), 1, "on_after_refresh");

    // A chain: the successor works, and so does its successor.
    let res = server.refresh(second).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let third = res.json();
    assert_eq!(server.me(str_of(&third, "access_token")).await, StatusCode::OK);
    assert_error(
        &server.refresh(first).await,
        "invalid_grant",
        "the spent first token",
    );
}

/// Presenting a spent refresh token answers `invalid_grant` and ends its family: the token that
/// replaced it, and every access token issued from the family, are refused. Another family of
/// the same user (another device) keeps working. `on_refresh_reuse` is called.
async fn reuse_ends_the_whole_family_and_only_it(store: Store) {
    let server = Server::start(store).await;
    let email = server.user("reuse").await;
    let login = server.login(&email, PASSWORD).await;
    let device = server.login(&email, PASSWORD).await;
    let stolen = str_of(&login, "refresh_token");
    let res = server.refresh(stolen).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let rotated = res.json();
    assert!(server.hooks.calls("reuse").is_empty());

    assert_error(&server.refresh(stolen).await, "invalid_grant", "the replay");
    assert_eq!(server.hooks.calls("reuse"), [format!("reuse {email}")]);
    assert_error(
        &server.refresh(str_of(&rotated, "refresh_token")).await,
        "invalid_grant",
        "the successor of a reused token",
    );
    for access in [&rotated["access_token"], &login["access_token"]] {
        assert_eq!(
            server.me(access.as_str().unwrap()).await,
            StatusCode::UNAUTHORIZED,
            "an access token of the ended family"
        );
    }
    assert_eq!(server.me(str_of(&device, "access_token")).await, StatusCode::OK);
    let res = server.refresh(str_of(&device, "refresh_token")).await;
    assert_eq!(res.status, StatusCode::OK, "another family: {}", res.text());
}

/// RFC 6749 §5.2: 400 `unsupported_grant_type` for another grant type, `invalid_request` for a
/// missing one (or a missing token, a repeated parameter, a body that is not a form),
/// `invalid_grant` for an unknown or malformed token. Never a 5xx.
async fn bad_requests_get_rfc6749_errors(store: Store) {
    let server = Server::start(store).await;
    let email = server.user("errors").await;
    let login = server.login(&email, PASSWORD).await;
    let good = str_of(&login, "refresh_token");
    let unknown = B64.encode([7u8; 32]);
    let cases: Vec<(&str, Req, &str)> = vec![
        (
            "no grant_type",
            Req::post("/auth/jwt/refresh").form(&[("refresh_token", good)]),
            "invalid_request",
        ),
        (
            "password grant",
            Req::post("/auth/jwt/refresh").form(&[("grant_type", "password"), ("refresh_token", good)]),
            "unsupported_grant_type",
        ),
        (
            "empty grant_type",
            Req::post("/auth/jwt/refresh").form(&[("grant_type", ""), ("refresh_token", good)]),
            "unsupported_grant_type",
        ),
        (
            "no refresh_token",
            Req::post("/auth/jwt/refresh").form(&[("grant_type", "refresh_token")]),
            "invalid_request",
        ),
        (
            "repeated refresh_token",
            Req::post("/auth/jwt/refresh").form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &unknown),
                ("refresh_token", good),
            ]),
            "invalid_request",
        ),
        (
            "JSON body",
            Req::post("/auth/jwt/refresh")
                .json(&json!({ "grant_type": "refresh_token", "refresh_token": good })),
            "invalid_request",
        ),
        ("no body", Req::post("/auth/jwt/refresh"), "invalid_request"),
        (
            "unknown token",
            Req::post("/auth/jwt/refresh")
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &unknown)]),
            "invalid_grant",
        ),
        (
            "the access token",
            Req::post("/auth/jwt/refresh").form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&login, "access_token")),
            ]),
            "invalid_grant",
        ),
        (
            "too long",
            Req::post("/auth/jwt/refresh").form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &format!("{good}A")),
            ]),
            "invalid_grant",
        ),
        (
            "not base64url",
            Req::post("/auth/jwt/refresh").form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &format!("{}+", &good[1..])),
            ]),
            "invalid_grant",
        ),
        (
            "binary",
            Req::post("/auth/jwt/refresh").raw_body(
                "application/x-www-form-urlencoded",
                "grant_type=refresh_token&refresh_token=%FF%00%C3",
            ),
            "invalid_grant",
        ),
    ];
    for (what, req, error) in cases {
        assert_error(&server.send(req).await, error, what);
    }
    // None of it spent the good token.
    let res = server.refresh(good).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

/// Ten refreshes of one token at once, as parallel requests on their own connections: exactly
/// one 200, nine `invalid_grant`. The nine presented a spent token, which is reuse: the family
/// ends, so the winner's refresh token and access token are refused too.
async fn ten_concurrent_refreshes_have_one_winner(store: Store) {
    let server = Server::start(store).await;
    let email = server.user("race").await;
    let login = server.login(&email, PASSWORD).await;
    let token = str_of(&login, "refresh_token").to_owned();
    let Via::Http { base, .. } = &server.http else {
        unreachable!()
    };
    let barrier = Arc::new(tokio::sync::Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (base, token, barrier) = (base.clone(), token.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                // A client each: ten connections, ten requests in flight together.
                let client = reqwest::Client::builder().no_proxy().build().unwrap();
                barrier.wait().await;
                let res = client
                    .post(format!("{base}/auth/jwt/refresh"))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                (status, res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => winners.push(body),
            StatusCode::BAD_REQUEST => assert_eq!(body, json!({ "error": "invalid_grant" })),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:#?}");
    let winner = &winners[0];
    assert_error(
        &server.refresh(str_of(winner, "refresh_token")).await,
        "invalid_grant",
        "the losers' reuse ended the family",
    );
    assert_eq!(
        server.me(str_of(winner, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!server.hooks.calls("reuse").is_empty());
}

/// A logout with an access token ends its family: the family's refresh token answers
/// `invalid_grant`, whether the access token came from the login or from a refresh. The user's
/// other families keep working.
async fn logout_ends_the_family(store: Store) {
    let server = Server::start(store).await;
    let email = server.user("logout").await;
    // Logout with the login's own access token.
    let login = server.login(&email, PASSWORD).await;
    let other = server.login(&email, PASSWORD).await;
    let res = server
        .send(Req::post("/auth/jwt/logout").bearer(str_of(&login, "access_token")))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    assert_error(
        &server.refresh(str_of(&login, "refresh_token")).await,
        "invalid_grant",
        "after a logout with the login's access token",
    );
    // Logout with a refreshed access token: the family's earlier access tokens go too.
    let res = server.refresh(str_of(&other, "refresh_token")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let refreshed = res.json();
    let res = server
        .send(Req::post("/auth/jwt/logout").bearer(str_of(&refreshed, "access_token")))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    assert_error(
        &server.refresh(str_of(&refreshed, "refresh_token")).await,
        "invalid_grant",
        "after a logout with a refreshed access token",
    );
    assert_eq!(
        server.me(str_of(&other, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    // A family of another login is untouched.
    let third = server.login(&email, PASSWORD).await;
    let res = server.refresh(str_of(&third, "refresh_token")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(server.hooks.calls("reuse").is_empty(), "a logout is no reuse");
}

/// A password change (`PATCH /users/me`, `PATCH /users/{id}`), a reset, a deactivation and a
/// deletion each end every family of the user, on both backends.
async fn every_change_ends_every_family(store: Store) {
    let server = Server::start(store).await;
    let admin_email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
    let mut admin = login_users::CreateUser::new(&admin_email, PASSWORD);
    admin.is_superuser = true;
    server.users.create(admin).await.unwrap();
    let admin = str_of(&server.login(&admin_email, PASSWORD).await, "access_token").to_owned();
    for what in ["patch me", "patch by id", "reset", "deactivation", "deletion"] {
        let email = server.user("change").await;
        let bearer = server.login(&email, PASSWORD).await;
        let (_, cookie_refresh) = server.cookie_login(&email).await;
        let access = str_of(&bearer, "access_token");
        let res = server.send(Req::get("/users/me").bearer(access)).await;
        let id = res.json()["id"].as_str().unwrap().to_owned();
        let new = json!({ "password": "another long password" });
        let res = match what {
            "patch me" => {
                server
                    .send(Req::patch("/users/me").bearer(access).json(&new))
                    .await
            }
            "patch by id" => {
                server
                    .send(Req::patch(&format!("/users/{id}")).bearer(&admin).json(&new))
                    .await
            }
            "reset" => {
                let res = server
                    .send(Req::post("/auth/forgot-password").json(&json!({ "email": email })))
                    .await;
                assert_eq!(res.status, StatusCode::ACCEPTED);
                let mail = server.hooks.calls("reset ").pop().unwrap();
                let token = mail.strip_prefix("reset ").unwrap();
                server
                    .send(
                        Req::post("/auth/reset-password")
                            .json(&json!({ "token": token, "password": "another long password" })),
                    )
                    .await
            }
            "deactivation" => {
                server
                    .send(
                        Req::patch(&format!("/users/{id}"))
                            .bearer(&admin)
                            .json(&json!({ "is_active": false })),
                    )
                    .await
            }
            _ => {
                let res = server
                    .send(Req::delete(&format!("/users/{id}")).bearer(&admin))
                    .await;
                assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
                res
            }
        };
        assert!(res.status.is_success(), "{what}: {}", res.text());
        assert_error(
            &server.refresh(str_of(&bearer, "refresh_token")).await,
            "invalid_grant",
            &format!("{what}: bearer family"),
        );
        assert_error(
            &server.cookie_refresh(&cookie_refresh).await,
            "invalid_grant",
            &format!("{what}: cookie family"),
        );
        if what == "deactivation" {
            // Reactivated, the old families stay ended.
            let res = server
                .send(
                    Req::patch(&format!("/users/{id}"))
                        .bearer(&admin)
                        .json(&json!({ "is_active": true })),
                )
                .await;
            assert_eq!(res.status, StatusCode::OK);
            assert_error(
                &server.refresh(str_of(&bearer, "refresh_token")).await,
                "invalid_grant",
                "reactivated",
            );
        }
    }
}

/// A family lives `REFRESH_TOKEN_LIFETIME` from its login, whatever the rotations: refreshed
/// within it, then refused after it. The refresh cookie's `Max-Age` is the family's time left.
async fn a_family_lives_its_lifetime_whatever_the_rotations(store: Store) {
    let server = Server::start_with(store, Duration::from_secs(3)).await;
    let email = server.user("lifetime").await;
    let login = server.login(&email, PASSWORD).await;
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let res = server.refresh(str_of(&login, "refresh_token")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let rotated = res.json();
    let (_, cookie_token) = server.cookie_login(&email).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let res = server.cookie_refresh(&cookie_token).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    let max_age: u64 = set_cookie(&res, "fastapiusersrefresh")
        .unwrap()
        .split("; ")
        .find_map(|a| a.strip_prefix("Max-Age="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&max_age), "the family's time left: {max_age}");
    // Past the bearer family's end (3 s after its login, with a second of clock granularity).
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(started.elapsed())).await;
    assert_error(
        &server.refresh(str_of(&rotated, "refresh_token")).await,
        "invalid_grant",
        "an expired family",
    );
}

/// The cookie backend: the login sets `fastapiusersrefresh` (HttpOnly, Secure,
/// SameSite=strict, Path=/auth/cookie/refresh, Max-Age = the family's lifetime);
/// `POST /auth/cookie/refresh` answers 204 with both cookies anew and spends the old one; it is
/// CSRF-checked; a repeated refresh cookie is refused and cleared; the cookie logout clears
/// both cookies and ends the family.
async fn cookie_backend_refreshes_with_its_own_cookie(store: Store) {
    let server = Server::start(store).await;
    let email = server.user("cookie").await;
    let res = server
        .send(Req::post("/auth/cookie/login").form(&[("username", email.as_str()), ("password", PASSWORD)]))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    let refresh = cookie(&res, "fastapiusersrefresh").unwrap();
    assert_eq!(
        set_cookie(&res, "fastapiusersrefresh").unwrap(),
        format!(
            "fastapiusersrefresh={refresh}; HttpOnly; Max-Age={}; Path=/auth/cookie/refresh; SameSite=strict; Secure",
            REFRESH_TOKEN_LIFETIME.as_secs()
        )
    );
    assert!(set_cookie(&res, "fastapiusersauth").is_some());

    // Cross-site: refused before anything is spent.
    let res = server
        .send(
            Req::post("/auth/cookie/refresh")
                .cookie("fastapiusersrefresh", &refresh)
                .header("origin", "https://evil.example")
                .header("sec-fetch-site", "cross-site"),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());

    // Tossed: a second cookie of the same name.
    let res = server
        .send(Req::post("/auth/cookie/refresh").header(
            "cookie",
            &format!(
                "fastapiusersrefresh={refresh}; fastapiusersrefresh={}",
                B64.encode([1u8; 32])
            ),
        ))
        .await;
    assert_error(&res, "invalid_request", "a repeated refresh cookie");
    assert!(
        set_cookie(&res, "fastapiusersrefresh")
            .unwrap()
            .contains("Max-Age=0"),
        "cleared"
    );
    assert_error(&server.cookie_refresh("").await, "invalid_request", "empty");
    let res = server.send(Req::post("/auth/cookie/refresh")).await;
    assert_error(&res, "invalid_request", "no cookie");

    let res = server.cookie_refresh(&refresh).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let auth = cookie(&res, "fastapiusersauth").expect("a new auth cookie");
    let next = cookie(&res, "fastapiusersrefresh").expect("a new refresh cookie");
    assert_ne!(next, refresh);
    let res = server
        .send(Req::get("/users/me").cookie("fastapiusersauth", &auth))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    // The cookie logout clears both cookies and ends the family.
    let res = server
        .send(Req::post("/auth/cookie/logout").cookie("fastapiusersauth", &auth))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    for name in ["fastapiusersauth", "fastapiusersrefresh"] {
        let cleared = set_cookie(&res, name).unwrap_or_else(|| panic!("{name} cleared"));
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
    }
    assert_error(
        &server.cookie_refresh(&next).await,
        "invalid_grant",
        "after the cookie logout",
    );
}

// ---------------------------------------------------------------------------------------------
// Opt-in and configuration.
// ---------------------------------------------------------------------------------------------

/// Off by default: FastAPI Users' login body, and no refresh routes (404).
#[tokio::test]
async fn refresh_is_off_by_default() {
    let users = Users::builder(Arc::new(MemoryStore::default()))
        .throttle(Throttle::disabled())
        .secret(SECRET)
        .build()
        .unwrap();
    let http = Via::http(users_example::app(users.clone())).await;
    let email = format!("off-{}@example.com", uuid::Uuid::new_v4().simple());
    let res = http
        .send(Req::post("/auth/register").json(&json!({ "email": email, "password": PASSWORD })))
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let res = http
        .send(Req::post("/auth/jwt/login").form(&[("username", email.as_str()), ("password", PASSWORD)]))
        .await;
    let body = res.json();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    let res = http
        .send(Req::post("/auth/cookie/login").form(&[("username", email.as_str()), ("password", PASSWORD)]))
        .await;
    assert_eq!(res.headers.get_all("set-cookie").iter().count(), 1);
    for path in ["/auth/jwt/refresh", "/auth/cookie/refresh"] {
        let res = http
            .send(Req::post(path).form(&[("grant_type", "refresh_token"), ("refresh_token", "x")]))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// Refresh tokens need JWT revocation and the JWT strategy on both backends: `build` says so,
/// naming `refresh_tokens`; a lifetime of zero names `refresh_token_lifetime`.
#[tokio::test]
async fn refresh_needs_revocable_jwts() {
    let store = Arc::new(MemoryStore::default());
    let refresh = Arc::new(MemoryRefreshStore::default());
    let error = Users::builder(store.clone())
        .refresh_tokens(refresh.clone(), REFRESH_TOKEN_LIFETIME)
        .secret(SECRET)
        .build()
        .unwrap_err();
    assert_eq!(error.setting(), "refresh_tokens");
    assert!(error.to_string().contains("revocation"), "{error}");
    let error = Users::builder(store)
        .revocation(Arc::new(MemoryRevocations::default()))
        .refresh_tokens(refresh, Duration::ZERO)
        .secret(SECRET)
        .build()
        .unwrap_err();
    assert_eq!(error.setting(), "refresh_token_lifetime");
}

/// Refresh tokens are kept only as their SHA-256: the `refresh_token` row holds the hash and no
/// column of either table holds the token. (Every store is given the hash by the same code.)
#[tokio::test]
async fn refresh_tokens_are_stored_only_as_their_hash() {
    use login_users::{SqliteRefreshStore, SqliteStore, token_id};

    let dir = support::TempDir::new();
    let store = SqliteStore::connect(&dir.db_url()).await.unwrap();
    let users = Users::builder(Arc::new(store.clone()))
        .throttle(Throttle::disabled())
        .revocation(Arc::new(store.clone()))
        .refresh_tokens(
            Arc::new(SqliteRefreshStore::new(&store).await.unwrap()),
            REFRESH_TOKEN_LIFETIME,
        )
        .secret(SECRET)
        .build()
        .unwrap();
    let http = Via::http(users_example::app(users)).await;
    let email = format!("hash-{}@example.com", uuid::Uuid::new_v4().simple());
    let res = http
        .send(Req::post("/auth/register").json(&json!({ "email": email, "password": PASSWORD })))
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let res = http
        .send(Req::post("/auth/jwt/login").form(&[("username", email.as_str()), ("password", PASSWORD)]))
        .await;
    let token = res.json()["refresh_token"].as_str().unwrap().to_owned();
    let hashes: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM refresh_token")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(hashes, [token_id(&token)]);
    let dump: Vec<String> = sqlx::query_scalar(
        "SELECT token_hash || family_id || access_id FROM refresh_token \
         UNION ALL SELECT id || user_id FROM refresh_family",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(dump.iter().all(|row| !row.contains(&token)), "{dump:?}");
}
