//! Every row of `docs/contract/users-http.md`, against the `users` example's `app()` over a real
//! socket on a fresh database per test: each success and each error, the token claims, the guards
//! on an app's own routes, an existing FastAPI Users database with its hashes and tokens,
//! concurrent registrations, the `create-user` CLI and the mail lines of the built binary, and the
//! parity of the stores.
//!
//! Every test taking a [`Setup`] runs on each store and token strategy (see
//! [`on_each_store_and_strategy!`] at the end of the file), as `<store>::<strategy>::<name>`:
//! the stores are `sqlite` (a fresh SQLite file) and `postgres` (a schema of its own in the
//! PostgreSQL of `DATABASE_URL`); the strategies of both login backends are `jwt` (stateless,
//! FastAPI Users' default), `jwt_revocable` (revocation in the same database), `database` (opaque
//! tokens in its `accesstoken` table) and `redis` (opaque tokens in the Redis of `REDIS_URL`). The
//! runs on PostgreSQL or Redis are `#[ignore = "needs …"]`: `-- --include-ignored` runs them, and
//! they fail, naming the variable, without it. The few tests about the access token being a JWT
//! run on the JWT strategies only. The `binary_*` tests run the built example on SQLite only.

mod support;
use support::{binary, users_db};

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use binary::{Running, free_port, users_binary};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use login_runtime::protected;
use login_users::{
    CreateUser, MemoryStore, SqliteStore, StoreError, User, UserHooks, UserPatch, UserStore, Users,
};
use serde_json::{Value, json};
use support::{Req, Res, TempDir, Via, now};
use users_db::{Setup, TestDb, TokenKind, on_each_store_and_strategy};
use uuid::Uuid;

const SECRET: &str = "users-contract-secret-0123456789abcdef";
const PASSWORD: &str = "guinevere";
/// The hash prefix of our argon2id parameters (OWASP: m=19 MiB, t=2, p=1).
const OUR_ARGON2: &str = "$argon2id$v=19$m=19456,t=2,p=1$";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fastapi_users");
const FIXTURE_SECRET: &str = "fastapi-users-fixture-secret-0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// Harness: a recording mailbox, and the example app on a bound socket over a test's own database.
// ---------------------------------------------------------------------------------------------

/// One "mail" a hook sent.
#[derive(Clone, Debug)]
struct Mail {
    kind: &'static str,
    email: String,
    token: String,
}

/// `UserHooks` that records the reset and verify tokens instead of mailing them.
#[derive(Clone, Default)]
struct Mailbox(Arc<Mutex<Vec<Mail>>>);

impl Mailbox {
    fn record(&self, kind: &'static str, user: &User, token: &str) {
        self.0.lock().unwrap().push(Mail {
            kind,
            email: user.email.clone(),
            token: token.to_owned(),
        });
    }

    fn all(&self) -> Vec<Mail> {
        self.0.lock().unwrap().clone()
    }

    /// The tokens of this kind sent to this address, oldest first.
    fn tokens(&self, kind: &str, email: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|m| m.kind == kind && m.email == email)
            .map(|m| m.token)
            .collect()
    }
}

impl UserHooks for Mailbox {
    async fn on_after_forgot_password(&self, user: &User, token: &str) {
        self.record("reset", user, token);
    }

    async fn on_after_request_verify(&self, user: &User, token: &str) {
        self.record("verify", user, token);
    }
}

// An app's own routes, guarded like FastAPI Users' `current_user(active=, verified=, superuser=)`.

#[protected(active)]
async fn active_route(user: User) -> Json<Value> {
    Json(json!({ "email": user.email }))
}

#[protected(active, verified)]
async fn verified_route(user: User) -> Json<Value> {
    Json(json!({ "email": user.email }))
}

#[protected(active, superuser)]
async fn superuser_route(user: User) -> Json<Value> {
    Json(json!({ "email": user.email }))
}

/// The example's app plus three guarded routes of the app's own.
fn app(users: Users) -> Router {
    let own = Router::new()
        .route("/app/active", get(active_route))
        .route("/app/verified", get(verified_route))
        .route("/app/superuser", get(superuser_route))
        .with_state(users.clone());
    users_example::app(users).merge(own)
}

/// The app on a test's own database (SQLite or PostgreSQL) with a token strategy, served on
/// 127.0.0.1.
struct Server {
    http: Via,
    users: Users,
    /// The app's store, for reading and changing rows behind its back.
    store: Arc<dyn UserStore>,
    mail: Mailbox,
    /// The strategy of both login backends.
    tokens: TokenKind,
    /// The database itself (row counts); removed when the server is dropped.
    db: TestDb,
    /// Held by a server of the FastAPI Users database on Redis (see [`FIXTURE_USERS_ON_REDIS`]).
    _redis_turn: Option<tokio::sync::MutexGuard<'static, ()>>,
}

/// The FastAPI Users database has fixed user ids, and the Redis strategy keeps a per-user index
/// of tokens in the one Redis every test shares (`fastapi_users_user_tokens:<id>`), which a
/// password change or reset empties: a reset of `argon` in one test would kill the `argon` tokens
/// another test just made. The tests on that database and Redis take turns (in this process;
/// another process running them on the same Redis at the same time can still meet them).
static FIXTURE_USERS_ON_REDIS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Server {
    /// A new, empty database.
    async fn start(kind: Setup) -> Self {
        Self::on(TestDb::empty(&kind.store).await, kind.tokens, SECRET, None).await
    }

    /// The users of the database FastAPI Users made, with its secret.
    async fn fastapi_users_db(kind: Setup) -> Self {
        let turn = match kind.tokens {
            TokenKind::Redis { .. } => Some(FIXTURE_USERS_ON_REDIS.lock().await),
            _ => None,
        };
        let db = TestDb::fastapi_users(&kind.store).await;
        Self::on(db, kind.tokens, FIXTURE_SECRET, turn).await
    }

    async fn on(
        db: TestDb,
        tokens: TokenKind,
        secret: &str,
        redis_turn: Option<tokio::sync::MutexGuard<'static, ()>>,
    ) -> Self {
        let mail = Mailbox::default();
        let builder = Users::builder(Arc::clone(&db.store))
            .hooks(mail.clone())
            .secret(secret);
        let users = tokens.configure(&db, builder).await.build().unwrap();
        Self {
            http: Via::http(app(users.clone())).await,
            users,
            store: Arc::clone(&db.store),
            mail,
            tokens,
            db,
            _redis_turn: redis_turn,
        }
    }

    async fn send(&self, req: Req) -> Res {
        self.http.send(req).await
    }

    /// The user's row, read from the store.
    async fn row(&self, id: Uuid) -> Option<User> {
        self.store.get(id).await.unwrap()
    }

    async fn set(&self, id: Uuid, patch: UserPatch) {
        self.store.update(id, &patch).await.unwrap().unwrap();
    }

    async fn deactivate(&self, id: Uuid) {
        let patch = UserPatch {
            is_active: Some(false),
            ..UserPatch::default()
        };
        self.set(id, patch).await;
    }

    /// `POST /auth/jwt/login` (urlencoded); the raw response.
    async fn try_login(&self, email: &str, password: &str) -> Res {
        self.send(Req::post("/auth/jwt/login").form(&[("username", email), ("password", password)]))
            .await
    }

    /// Logs in and returns the access token.
    async fn login(&self, email: &str, password: &str) -> String {
        let res = self.try_login(email, password).await;
        assert_eq!(res.status, StatusCode::OK, "login {email}: {}", res.text());
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// An active user with [`PASSWORD`] (created as `create-user` does), and a token from a login.
    async fn account(&self, email: &str, superuser: bool, verified: bool) -> (User, String) {
        let mut new = CreateUser::new(email, PASSWORD);
        new.is_superuser = superuser;
        new.is_verified = verified;
        let user = self.users.create(new).await.unwrap();
        let token = self.login(email, PASSWORD).await;
        (user, token)
    }

    async fn member(&self, email: &str) -> (User, String) {
        self.account(email, false, false).await
    }

    async fn admin(&self) -> (User, String) {
        self.account("admin@example.com", true, true).await
    }

    async fn me(&self, token: &str) -> Res {
        self.send(Req::get("/users/me").bearer(token)).await
    }

    /// Asks for a reset and returns the one token mailed for it.
    async fn reset_token(&self, email: &str) -> String {
        let before = self.mail.tokens("reset", email).len();
        let res = self
            .send(Req::post("/auth/forgot-password").json(&json!({ "email": email })))
            .await;
        expect(&res, StatusCode::ACCEPTED, Value::Null, "forgot-password");
        let tokens = self.mail.tokens("reset", email);
        assert_eq!(tokens.len(), before + 1, "one reset mail for {email}");
        tokens.last().unwrap().clone()
    }

    /// Asks for a verification and returns the one token mailed for it.
    async fn verify_token(&self, email: &str) -> String {
        let before = self.mail.tokens("verify", email).len();
        let res = self
            .send(Req::post("/auth/request-verify-token").json(&json!({ "email": email })))
            .await;
        expect(&res, StatusCode::ACCEPTED, Value::Null, "request-verify-token");
        let tokens = self.mail.tokens("verify", email);
        assert_eq!(tokens.len(), before + 1, "one verify mail for {email}");
        tokens.last().unwrap().clone()
    }

    async fn reset(&self, token: &str, password: &str) -> Res {
        self.send(Req::post("/auth/reset-password").json(&json!({ "token": token, "password": password })))
            .await
    }

    async fn verify(&self, token: &str) -> Res {
        self.send(Req::post("/auth/verify").json(&json!({ "token": token })))
            .await
    }
}

// ---------------------------------------------------------------------------------------------
// What a client checks.
// ---------------------------------------------------------------------------------------------

/// Status and JSON body exactly.
#[track_caller]
fn expect(res: &Res, status: StatusCode, body: Value, context: &str) {
    assert_eq!(res.status, status, "{context}: {}", res.text());
    assert_eq!(res.json(), body, "{context}");
}

/// `400 {"detail": "<CODE>"}`.
#[track_caller]
fn expect_code(res: &Res, code: &str, context: &str) {
    expect(res, StatusCode::BAD_REQUEST, json!({ "detail": code }), context);
}

/// `400 {"detail": {"code": "<CODE>", "reason": "<text>"}}`.
#[track_caller]
fn expect_reason(res: &Res, code: &str, context: &str) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{context}: {}", res.text());
    let body = res.json();
    assert_eq!(keys(&body), ["detail"], "{context}");
    assert_eq!(keys(&body["detail"]), ["code", "reason"], "{context}");
    assert_eq!(body["detail"]["code"], code, "{context}");
    let reason = body["detail"]["reason"].as_str().unwrap_or_default();
    assert!(!reason.is_empty(), "{context}: a reason in words: {body}");
}

#[track_caller]
fn expect_unauthorized(res: &Res, context: &str) {
    expect(
        res,
        StatusCode::UNAUTHORIZED,
        json!({"detail": "Unauthorized"}),
        context,
    );
}

#[track_caller]
fn expect_forbidden(res: &Res, context: &str) {
    expect(
        res,
        StatusCode::FORBIDDEN,
        json!({"detail": "Forbidden"}),
        context,
    );
}

#[track_caller]
fn expect_not_found(res: &Res, context: &str) {
    expect(
        res,
        StatusCode::NOT_FOUND,
        json!({"detail": "Not Found"}),
        context,
    );
}

/// FastAPI's 422: a list of errors located in the body.
#[track_caller]
fn expect_invalid(res: &Res, context: &str) {
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{context}: {}",
        res.text()
    );
    let body = res.json();
    let errors = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: {body}"));
    assert!(!errors.is_empty(), "{context}");
    for error in errors {
        assert_eq!(error["loc"][0], "body", "{context}: {error}");
        assert!(
            error["type"].is_string() && error["msg"].is_string(),
            "{context}: {error}"
        );
    }
}

/// 204 with nothing in the body.
#[track_caller]
fn expect_no_content(res: &Res, context: &str) {
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{context}: {}", res.text());
    assert!(res.body.is_empty(), "{context}: {}", res.text());
}

/// A UserRead: exactly the five public fields.
#[track_caller]
fn expect_user_read(body: &Value, email: &str, (active, superuser, verified): (bool, bool, bool)) {
    assert_eq!(
        keys(body),
        ["email", "id", "is_active", "is_superuser", "is_verified"],
        "{body}"
    );
    assert_eq!(body["email"], email, "{body}");
    assert!(Uuid::parse_str(body["id"].as_str().unwrap()).is_ok(), "{body}");
    assert_eq!(
        (&body["is_active"], &body["is_superuser"], &body["is_verified"]),
        (&json!(active), &json!(superuser), &json!(verified)),
        "{body}: (active, superuser, verified)"
    );
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

fn id_of(body: &Value) -> Uuid {
    Uuid::parse_str(body["id"].as_str().unwrap()).unwrap()
}

/// A JWT's payload, decoded without checking anything.
fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
}

fn sign_with(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The same token with its `exp` an hour in the past, signed again with `secret`.
fn expired(token: &str, secret: &str) -> String {
    let mut payload = claims(token);
    payload["exp"] = json!(now() - 3600);
    sign_with(secret, &payload)
}

// ---------------------------------------------------------------------------------------------
// POST /auth/register
// ---------------------------------------------------------------------------------------------

async fn register_creates_an_active_ordinary_unverified_user_whatever_the_body_says(kind: Setup) {
    let s = Server::start(kind).await;
    let forced_id = "00000000-0000-4000-8000-000000000000";
    let res = s
        .send(Req::post("/auth/register").json(&json!({
            "email": "king.arthur@camelot.bt",
            "password": PASSWORD,
            "is_active": false,
            "is_superuser": true,
            "is_verified": true,
            "id": forced_id,
        })))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let body = res.json();
    expect_user_read(&body, "king.arthur@camelot.bt", (true, false, false));
    assert_ne!(body["id"], forced_id, "the id is the server's");
    assert!(!res.text().contains("argon2"), "no hash in UserRead");

    let row = s.row(id_of(&body)).await.expect("a row");
    assert_eq!(
        (row.is_active, row.is_superuser, row.is_verified),
        (true, false, false)
    );
    assert!(
        row.hashed_password.starts_with(OUR_ARGON2),
        "{}",
        row.hashed_password
    );
    s.login("king.arthur@camelot.bt", PASSWORD).await;
}

async fn register_refuses_an_email_taken_in_any_case(kind: Setup) {
    let s = Server::start(kind).await;
    s.member("king.arthur@camelot.bt").await;
    for email in [
        "king.arthur@camelot.bt",
        "King.Arthur@camelot.bt",
        "KING.ARTHUR@CAMELOT.BT",
    ] {
        let res = s
            .send(Req::post("/auth/register").json(&json!({"email": email, "password": "another-one"})))
            .await;
        expect_code(&res, "REGISTER_USER_ALREADY_EXISTS", email);
    }
}

async fn register_refuses_too_short_and_too_long_passwords_with_a_reason(kind: Setup) {
    let s = Server::start(kind).await;
    let too_long = "x".repeat(129);
    for (email, password) in [
        ("short@example.com", "1234567"),
        ("long@example.com", too_long.as_str()),
    ] {
        let res = s
            .send(Req::post("/auth/register").json(&json!({"email": email, "password": password})))
            .await;
        expect_reason(
            &res,
            "REGISTER_INVALID_PASSWORD",
            &format!("{} chars", password.len()),
        );
        assert!(
            s.store.get_by_email(email).await.unwrap().is_none(),
            "no user made"
        );
    }
    // The bounds themselves are fine.
    for (email, password) in [
        ("eight@example.com", "12345678".to_owned()),
        ("max@example.com", "y".repeat(128)),
    ] {
        let res = s
            .send(Req::post("/auth/register").json(&json!({"email": email, "password": password})))
            .await;
        assert_eq!(
            res.status,
            StatusCode::CREATED,
            "{} chars: {}",
            password.len(),
            res.text()
        );
    }
}

async fn register_validation_failures_are_422(kind: Setup) {
    let s = Server::start(kind).await;
    let cases = [
        (
            "missing password",
            Req::post("/auth/register").json(&json!({"email": "a@example.com"})),
        ),
        (
            "missing email",
            Req::post("/auth/register").json(&json!({"password": PASSWORD})),
        ),
        (
            "bad email",
            Req::post("/auth/register").json(&json!({"email": "not-an-email", "password": PASSWORD})),
        ),
        (
            "password not a string",
            Req::post("/auth/register").json(&json!({"email": "a@example.com", "password": 12345678})),
        ),
        (
            "malformed JSON",
            Req::post("/auth/register").raw_body("application/json", r#"{"email": "a@example.com","#),
        ),
        (
            "not an object",
            Req::post("/auth/register").json(&json!(["a@example.com", PASSWORD])),
        ),
        (
            "JSON sent as text",
            Req::post("/auth/register").raw_body(
                "text/plain",
                r#"{"email": "a@example.com", "password": "guinevere"}"#,
            ),
        ),
        ("empty body", Req::post("/auth/register")),
    ];
    for (context, req) in cases {
        expect_invalid(&s.send(req).await, context);
    }
    assert!(s.store.get_by_email("a@example.com").await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// POST /auth/jwt/login, /auth/jwt/logout
// ---------------------------------------------------------------------------------------------

async fn jwt_login_takes_an_urlencoded_or_a_multipart_form(kind: Setup) {
    let s = Server::start(kind).await;
    let (user, _) = s.member("king.arthur@camelot.bt").await;
    let fields = [("username", "king.arthur@camelot.bt"), ("password", PASSWORD)];
    for (context, req) in [
        ("urlencoded", Req::post("/auth/jwt/login").form(&fields)),
        (
            "multipart (curl -F)",
            Req::post("/auth/jwt/login").multipart(&fields),
        ),
    ] {
        let res = s.send(req).await;
        assert_eq!(res.status, StatusCode::OK, "{context}: {}", res.text());
        let body = res.json();
        assert_eq!(keys(&body), ["access_token", "token_type"], "{context}");
        assert_eq!(body["token_type"], "bearer", "{context}");
        let me = s.me(body["access_token"].as_str().unwrap()).await;
        assert_eq!(me.status, StatusCode::OK, "{context}");
        assert_eq!(me.json()["id"], user.id.to_string(), "{context}");
    }
    // The email is looked up in any case.
    s.login("King.Arthur@CAMELOT.bt", PASSWORD).await;
}

async fn jwt_login_failures_are_one_indistinguishable_400(kind: Setup) {
    let s = Server::start(kind).await;
    s.member("known@example.com").await;
    let (sleeper, _) = s.member("sleeper@example.com").await;
    s.deactivate(sleeper.id).await;

    let mut answers = Vec::new();
    for (context, email, password) in [
        ("unknown email", "nobody@example.com", PASSWORD),
        ("wrong password", "known@example.com", "not-the-password"),
        ("inactive user, right password", "sleeper@example.com", PASSWORD),
    ] {
        for req in [
            Req::post("/auth/jwt/login").form(&[("username", email), ("password", password)]),
            Req::post("/auth/jwt/login").multipart(&[("username", email), ("password", password)]),
        ] {
            let res = s.send(req).await;
            expect_code(&res, "LOGIN_BAD_CREDENTIALS", context);
            answers.push((
                res.status,
                res.header("content-type").map(str::to_owned),
                res.body,
            ));
        }
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "identical answers: {answers:?}"
    );
}

async fn jwt_login_validation_failures_are_422(kind: Setup) {
    let s = Server::start(kind).await;
    for (context, req) in [
        (
            "no password",
            Req::post("/auth/jwt/login").form(&[("username", "a@example.com")]),
        ),
        (
            "no username",
            Req::post("/auth/jwt/login").form(&[("password", PASSWORD)]),
        ),
        (
            "JSON instead of a form",
            Req::post("/auth/jwt/login").json(&json!({"username": "a@example.com", "password": PASSWORD})),
        ),
        ("empty body", Req::post("/auth/jwt/login")),
        (
            "malformed multipart",
            Req::post("/auth/jwt/login")
                .raw_body("multipart/form-data; boundary=xyz", "not multipart at all"),
        ),
    ] {
        expect_invalid(&s.send(req).await, context);
    }
}

async fn jwt_logout_needs_a_token(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, token) = s.member("king.arthur@camelot.bt").await;
    let res = s.send(Req::post("/auth/jwt/logout").bearer(&token)).await;
    expect_no_content(&res, "logout");
    expect_unauthorized(&s.send(Req::post("/auth/jwt/logout")).await, "no token");
    expect_unauthorized(
        &s.send(Req::post("/auth/jwt/logout").bearer("garbage")).await,
        "garbage token",
    );
}

// ---------------------------------------------------------------------------------------------
// POST /auth/cookie/login, /auth/cookie/logout
// ---------------------------------------------------------------------------------------------

async fn cookie_login_sets_fastapi_users_cookie(kind: Setup) {
    let s = Server::start(kind).await;
    let (user, _) = s.member("king.arthur@camelot.bt").await;
    let fields = [("username", "king.arthur@camelot.bt"), ("password", PASSWORD)];
    for (context, req) in [
        ("urlencoded", Req::post("/auth/cookie/login").form(&fields)),
        ("multipart", Req::post("/auth/cookie/login").multipart(&fields)),
    ] {
        let res = s.send(req).await;
        expect_no_content(&res, context);
        assert_eq!(res.headers.get_all("set-cookie").iter().count(), 1, "{context}");
        let set_cookie = res.header("set-cookie").unwrap();
        let jwt = set_cookie
            .strip_prefix("fastapiusersauth=")
            .and_then(|rest| rest.strip_suffix("; HttpOnly; Max-Age=3600; Path=/; SameSite=lax; Secure"))
            .unwrap_or_else(|| panic!("{context}: unexpected Set-Cookie {set_cookie}"));
        // JWT only: the cookie of the database and Redis strategies holds an opaque token.
        if s.tokens.is_jwt() {
            assert_eq!(jwt.split('.').count(), 3, "{context}: {jwt}");
            assert_eq!(claims(jwt)["sub"], user.id.to_string(), "{context}");
        }

        let me = s
            .send(Req::get("/users/me").cookie("fastapiusersauth", jwt))
            .await;
        assert_eq!(me.status, StatusCode::OK, "{context}: the cookie authenticates");
        assert_eq!(me.json()["email"], "king.arthur@camelot.bt");
    }
}

async fn cookie_login_failures_are_those_of_jwt_login(kind: Setup) {
    let s = Server::start(kind).await;
    s.member("known@example.com").await;
    let (sleeper, _) = s.member("sleeper@example.com").await;
    s.deactivate(sleeper.id).await;
    for (context, email, password) in [
        ("unknown email", "nobody@example.com", PASSWORD),
        ("wrong password", "known@example.com", "not-the-password"),
        ("inactive user", "sleeper@example.com", PASSWORD),
    ] {
        let res = s
            .send(Req::post("/auth/cookie/login").form(&[("username", email), ("password", password)]))
            .await;
        expect_code(&res, "LOGIN_BAD_CREDENTIALS", context);
        assert!(res.header("set-cookie").is_none(), "{context}: no cookie");
    }
    let res = s
        .send(Req::post("/auth/cookie/login").form(&[("username", "known@example.com")]))
        .await;
    expect_invalid(&res, "no password");
}

async fn cookie_logout_clears_the_cookie(kind: Setup) {
    let s = Server::start(kind).await;
    s.member("king.arthur@camelot.bt").await;
    let login = s
        .send(
            Req::post("/auth/cookie/login")
                .form(&[("username", "king.arthur@camelot.bt"), ("password", PASSWORD)]),
        )
        .await;
    let cookie = login.header("set-cookie").unwrap();
    let jwt = cookie
        .strip_prefix("fastapiusersauth=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();

    let res = s
        .send(Req::post("/auth/cookie/logout").cookie("fastapiusersauth", jwt))
        .await;
    expect_no_content(&res, "logout");
    let cleared = res.header("set-cookie").expect("a clearing Set-Cookie");
    assert_eq!(
        cleared,
        r#"fastapiusersauth=""; HttpOnly; Max-Age=0; Path=/; SameSite=lax; Secure"#
    );

    expect_unauthorized(&s.send(Req::post("/auth/cookie/logout")).await, "no cookie");
    expect_unauthorized(
        &s.send(Req::post("/auth/cookie/logout").cookie("fastapiusersauth", "garbage"))
            .await,
        "garbage cookie",
    );
}

// ---------------------------------------------------------------------------------------------
// GET /users/me
// ---------------------------------------------------------------------------------------------

async fn me_returns_the_current_user(kind: Setup) {
    let s = Server::start(kind).await;
    let (user, token) = s.member("king.arthur@camelot.bt").await;
    let res = s.me(&token).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    expect_user_read(&body, "king.arthur@camelot.bt", (true, false, false));
    assert_eq!(id_of(&body), user.id);
    // The scheme is case-insensitive.
    let res = s
        .send(Req::get("/users/me").header("authorization", &format!("bearer {token}")))
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn me_refuses_missing_bad_expired_and_foreign_tokens_and_inactive_users(kind: Setup) {
    let s = Server::start(kind).await;
    let (user, token) = s.member("king.arthur@camelot.bt").await;
    let reset = s.reset_token("king.arthur@camelot.bt").await;
    let verify = s.verify_token("king.arthur@camelot.bt").await;
    let mut cases = vec![
        ("garbage", "garbage".to_owned()),
        ("reset token", reset),
        ("verify token", verify),
        (
            "no audience",
            sign_with(SECRET, &json!({"sub": user.id.to_string(), "exp": now() + 600})),
        ),
    ];
    // JWT only: the access token's own claims, signed again; an opaque token has none.
    if s.tokens.is_jwt() {
        cases.extend([
            ("expired", expired(&token, SECRET)),
            (
                "other secret",
                sign_with("another-secret-of-enough-length-0123456789", &claims(&token)),
            ),
        ]);
    }
    expect_unauthorized(&s.send(Req::get("/users/me")).await, "no token");
    for (context, bad) in &cases {
        expect_unauthorized(&s.me(bad).await, context);
    }
    assert_eq!(s.me(&token).await.status, StatusCode::OK, "the real token works");
    s.deactivate(user.id).await;
    expect_unauthorized(&s.me(&token).await, "inactive user");
}

// ---------------------------------------------------------------------------------------------
// PATCH /users/me
// ---------------------------------------------------------------------------------------------

async fn patch_me_changes_email_and_password_and_ignores_flags_and_id(kind: Setup) {
    let s = Server::start(kind).await;
    let (user, token) = s.account("king.arthur@camelot.bt", false, true).await;
    let res = s
        .send(Req::patch("/users/me").bearer(&token).json(&json!({
            "email": "arthur@camelot.bt",
            "password": "lancelot-and-more",
            "is_active": false,
            "is_superuser": true,
            "is_verified": true,
            "id": "00000000-0000-4000-8000-000000000000",
        })))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    expect_user_read(&body, "arthur@camelot.bt", (true, false, false));
    assert_eq!(id_of(&body), user.id, "the id stays");

    let row = s.row(user.id).await.unwrap();
    assert_eq!(
        (row.is_active, row.is_superuser, row.is_verified),
        (true, false, false)
    );
    s.login("arthur@camelot.bt", "lancelot-and-more").await;
    expect_code(
        &s.try_login("arthur@camelot.bt", PASSWORD).await,
        "LOGIN_BAD_CREDENTIALS",
        "old password",
    );
    expect_code(
        &s.try_login("king.arthur@camelot.bt", "lancelot-and-more").await,
        "LOGIN_BAD_CREDENTIALS",
        "old email",
    );
}

async fn patch_me_keeps_verified_when_only_the_password_changes(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, token) = s.account("king.arthur@camelot.bt", false, true).await;
    let res = s
        .send(
            Req::patch("/users/me")
                .bearer(&token)
                .json(&json!({"password": "lancelot-and-more"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    expect_user_read(&res.json(), "king.arthur@camelot.bt", (true, false, true));
    s.login("king.arthur@camelot.bt", "lancelot-and-more").await;
}

async fn patch_me_refuses_a_taken_email_a_bad_password_and_anonymous_users(kind: Setup) {
    let s = Server::start(kind).await;
    s.member("taken@example.com").await;
    let (user, token) = s.member("king.arthur@camelot.bt").await;
    for email in ["taken@example.com", "Taken@EXAMPLE.com"] {
        let res = s
            .send(
                Req::patch("/users/me")
                    .bearer(&token)
                    .json(&json!({ "email": email })),
            )
            .await;
        expect_code(&res, "UPDATE_USER_EMAIL_ALREADY_EXISTS", email);
    }
    for password in ["short", &"z".repeat(129)] {
        let res = s
            .send(
                Req::patch("/users/me")
                    .bearer(&token)
                    .json(&json!({ "password": password })),
            )
            .await;
        expect_reason(
            &res,
            "UPDATE_USER_INVALID_PASSWORD",
            &format!("{} chars", password.len()),
        );
    }
    expect_invalid(
        &s.send(
            Req::patch("/users/me")
                .bearer(&token)
                .json(&json!({"email": "nope"})),
        )
        .await,
        "bad email",
    );
    expect_invalid(
        &s.send(
            Req::patch("/users/me")
                .bearer(&token)
                .raw_body("application/json", r#"{"email": "#),
        )
        .await,
        "malformed JSON",
    );
    expect_unauthorized(
        &s.send(Req::patch("/users/me").json(&json!({"password": "long-enough-1"})))
            .await,
        "no token",
    );
    let row = s.row(user.id).await.unwrap();
    assert_eq!(row.email, "king.arthur@camelot.bt", "nothing changed");
    s.login("king.arthur@camelot.bt", PASSWORD).await;
    s.deactivate(user.id).await;
    expect_unauthorized(
        &s.send(
            Req::patch("/users/me")
                .bearer(&token)
                .json(&json!({"password": "long-enough-1"})),
        )
        .await,
        "inactive user",
    );
}

// ---------------------------------------------------------------------------------------------
// GET / PATCH / DELETE /users/{id}
// ---------------------------------------------------------------------------------------------

async fn superuser_reads_any_user(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, admin) = s.admin().await;
    let (user, _) = s.member("king.arthur@camelot.bt").await;
    let res = s
        .send(Req::get(&format!("/users/{}", user.id)).bearer(&admin))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    expect_user_read(&res.json(), "king.arthur@camelot.bt", (true, false, false));
    assert_eq!(id_of(&res.json()), user.id);
}

async fn superuser_patch_sets_flags_email_and_password(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, admin) = s.admin().await;
    let (user, _) = s.account("king.arthur@camelot.bt", false, true).await;
    let path = format!("/users/{}", user.id);

    let res = s
        .send(Req::patch(&path).bearer(&admin).json(&json!({
            "email": "arthur@camelot.bt",
            "password": "set-by-the-admin",
        })))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    expect_user_read(&res.json(), "arthur@camelot.bt", (true, false, false));
    s.login("arthur@camelot.bt", "set-by-the-admin").await;

    let res = s
        .send(Req::patch(&path).bearer(&admin).json(&json!({
            "is_superuser": true,
            "is_verified": true,
        })))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    expect_user_read(&res.json(), "arthur@camelot.bt", (true, true, true));

    let res = s
        .send(
            Req::patch(&path)
                .bearer(&admin)
                .json(&json!({"is_active": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    expect_user_read(&res.json(), "arthur@camelot.bt", (false, true, true));
    let row = s.row(user.id).await.unwrap();
    assert_eq!(
        (row.is_active, row.is_superuser, row.is_verified),
        (false, true, true)
    );
    expect_code(
        &s.try_login("arthur@camelot.bt", "set-by-the-admin").await,
        "LOGIN_BAD_CREDENTIALS",
        "deactivated by the admin",
    );
}

async fn superuser_patch_refuses_a_taken_email_and_a_bad_password(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, admin) = s.admin().await;
    s.member("taken@example.com").await;
    let (user, _) = s.member("king.arthur@camelot.bt").await;
    let path = format!("/users/{}", user.id);
    let res = s
        .send(
            Req::patch(&path)
                .bearer(&admin)
                .json(&json!({"email": "TAKEN@example.com"})),
        )
        .await;
    expect_code(&res, "UPDATE_USER_EMAIL_ALREADY_EXISTS", "taken email");
    let res = s
        .send(
            Req::patch(&path)
                .bearer(&admin)
                .json(&json!({"password": "short"})),
        )
        .await;
    expect_reason(&res, "UPDATE_USER_INVALID_PASSWORD", "short password");
    assert_eq!(s.row(user.id).await.unwrap().email, "king.arthur@camelot.bt");
}

async fn superuser_deletes_a_user(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, admin) = s.admin().await;
    let (user, token) = s.member("king.arthur@camelot.bt").await;
    let path = format!("/users/{}", user.id);
    expect_no_content(&s.send(Req::delete(&path).bearer(&admin)).await, "delete");
    assert!(s.row(user.id).await.is_none(), "the row is gone");
    expect_not_found(&s.send(Req::get(&path).bearer(&admin)).await, "deleted user");
    expect_not_found(&s.send(Req::delete(&path).bearer(&admin)).await, "deleted twice");
    expect_unauthorized(&s.me(&token).await, "the deleted user's token");
}

async fn user_routes_check_401_then_403_then_404(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, admin) = s.admin().await;
    let (user, member) = s.member("king.arthur@camelot.bt").await;
    let known = format!("/users/{}", user.id);
    let unknown = format!("/users/{}", Uuid::new_v4());
    let unparsable = "/users/not-a-uuid".to_owned();
    let requests = |path: &str| {
        [
            ("GET", Req::get(path)),
            ("PATCH", Req::patch(path).json(&json!({"is_superuser": true}))),
            ("DELETE", Req::delete(path)),
        ]
    };
    for path in [&known, &unknown, &unparsable] {
        for (method, req) in requests(path) {
            expect_unauthorized(&s.send(req).await, &format!("{method} {path} without a token"));
        }
        for (method, req) in requests(path) {
            expect_unauthorized(
                &s.send(req.bearer("garbage")).await,
                &format!("{method} {path} with a garbage token"),
            );
        }
        for (method, req) in requests(path) {
            expect_forbidden(
                &s.send(req.bearer(&member)).await,
                &format!("{method} {path} as a non-superuser"),
            );
        }
    }
    for path in [&unknown, &unparsable] {
        for (method, req) in requests(path) {
            expect_not_found(
                &s.send(req.bearer(&admin)).await,
                &format!("{method} {path} as superuser"),
            );
        }
    }
    let row = s.row(user.id).await.unwrap();
    assert!(!row.is_superuser, "the member did not promote themselves");
}

async fn an_inactive_superuser_is_anonymous_on_user_routes(kind: Setup) {
    let s = Server::start(kind).await;
    let (admin_user, admin) = s.admin().await;
    let (user, _) = s.member("king.arthur@camelot.bt").await;
    s.deactivate(admin_user.id).await;
    let res = s
        .send(Req::get(&format!("/users/{}", user.id)).bearer(&admin))
        .await;
    expect_unauthorized(&res, "inactive superuser");
}

// ---------------------------------------------------------------------------------------------
// POST /auth/forgot-password, /auth/reset-password
// ---------------------------------------------------------------------------------------------

async fn forgot_password_is_202_for_everyone_and_mails_only_known_active_users(kind: Setup) {
    let s = Server::start(kind).await;
    s.member("known@example.com").await;
    let (sleeper, _) = s.member("sleeper@example.com").await;
    s.deactivate(sleeper.id).await;
    for email in ["known@example.com", "nobody@example.com", "sleeper@example.com"] {
        let res = s
            .send(Req::post("/auth/forgot-password").json(&json!({ "email": email })))
            .await;
        expect(&res, StatusCode::ACCEPTED, Value::Null, email);
    }
    let mails = s.mail.all();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        (mails[0].kind, mails[0].email.as_str()),
        ("reset", "known@example.com")
    );

    // Looked up in any case; mailed to the stored address.
    let res = s
        .send(Req::post("/auth/forgot-password").json(&json!({"email": "KNOWN@example.com"})))
        .await;
    expect(&res, StatusCode::ACCEPTED, Value::Null, "other case");
    assert_eq!(s.mail.tokens("reset", "known@example.com").len(), 2);

    for (context, body) in [("no email", json!({})), ("bad email", json!({"email": "nope"}))] {
        expect_invalid(
            &s.send(Req::post("/auth/forgot-password").json(&body)).await,
            context,
        );
    }
}

async fn reset_password_sets_the_password_and_the_token_works_once(kind: Setup) {
    let s = Server::start(kind).await;
    s.member("king.arthur@camelot.bt").await;
    let token = s.reset_token("king.arthur@camelot.bt").await;
    expect(
        &s.reset(&token, "lancelot-and-more").await,
        StatusCode::OK,
        Value::Null,
        "reset",
    );
    s.login("king.arthur@camelot.bt", "lancelot-and-more").await;
    expect_code(
        &s.try_login("king.arthur@camelot.bt", PASSWORD).await,
        "LOGIN_BAD_CREDENTIALS",
        "old password",
    );
    expect_code(
        &s.reset(&token, "a-third-password").await,
        "RESET_PASSWORD_BAD_TOKEN",
        "second use",
    );
    s.login("king.arthur@camelot.bt", "lancelot-and-more").await;
}

async fn reset_password_refuses_bad_expired_and_foreign_tokens(kind: Setup) {
    let s = Server::start(kind).await;
    let (user, access) = s.member("king.arthur@camelot.bt").await;
    let reset = s.reset_token("king.arthur@camelot.bt").await;
    let verify = s.verify_token("king.arthur@camelot.bt").await;
    let cases = [
        ("garbage", "garbage".to_owned()),
        ("expired", expired(&reset, SECRET)),
        (
            "other secret",
            sign_with("another-secret-of-enough-length-0123456789", &claims(&reset)),
        ),
        ("verify token", verify),
        ("access token", access),
    ];
    for (context, token) in &cases {
        expect_code(
            &s.reset(token, "lancelot-and-more").await,
            "RESET_PASSWORD_BAD_TOKEN",
            context,
        );
    }
    s.login("king.arthur@camelot.bt", PASSWORD).await;

    s.deactivate(user.id).await;
    expect_code(
        &s.reset(&reset, "lancelot-and-more").await,
        "RESET_PASSWORD_BAD_TOKEN",
        "inactive user",
    );
    assert!(s.store.delete(user.id).await.unwrap());
    expect_code(
        &s.reset(&reset, "lancelot-and-more").await,
        "RESET_PASSWORD_BAD_TOKEN",
        "user gone",
    );
}

async fn reset_password_refuses_a_bad_password_with_a_reason(kind: Setup) {
    let s = Server::start(kind).await;
    s.member("king.arthur@camelot.bt").await;
    let token = s.reset_token("king.arthur@camelot.bt").await;
    for password in ["short", &"z".repeat(129)] {
        expect_reason(
            &s.reset(&token, password).await,
            "RESET_PASSWORD_INVALID_PASSWORD",
            &format!("{} chars", password.len()),
        );
    }
    for (context, body) in [
        ("no password", json!({ "token": token })),
        ("no token", json!({"password": "lancelot-and-more"})),
    ] {
        expect_invalid(
            &s.send(Req::post("/auth/reset-password").json(&body)).await,
            context,
        );
    }
    // Nothing was changed, so the token still works.
    expect(
        &s.reset(&token, "lancelot-and-more").await,
        StatusCode::OK,
        Value::Null,
        "reset",
    );
}

// ---------------------------------------------------------------------------------------------
// POST /auth/request-verify-token, /auth/verify
// ---------------------------------------------------------------------------------------------

async fn request_verify_token_is_202_for_everyone_and_mails_only_unverified_active_users(kind: Setup) {
    let s = Server::start(kind).await;
    s.member("unverified@example.com").await;
    s.account("verified@example.com", false, true).await;
    let (sleeper, _) = s.member("sleeper@example.com").await;
    s.deactivate(sleeper.id).await;
    for email in [
        "unverified@example.com",
        "verified@example.com",
        "sleeper@example.com",
        "nobody@example.com",
    ] {
        let res = s
            .send(Req::post("/auth/request-verify-token").json(&json!({ "email": email })))
            .await;
        expect(&res, StatusCode::ACCEPTED, Value::Null, email);
    }
    let mails = s.mail.all();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        (mails[0].kind, mails[0].email.as_str()),
        ("verify", "unverified@example.com")
    );
    for (context, body) in [("no email", json!({})), ("bad email", json!({"email": "nope"}))] {
        expect_invalid(
            &s.send(Req::post("/auth/request-verify-token").json(&body)).await,
            context,
        );
    }
}

async fn verify_marks_the_user_verified_once(kind: Setup) {
    let s = Server::start(kind).await;
    let (user, access) = s.member("king.arthur@camelot.bt").await;
    let token = s.verify_token("king.arthur@camelot.bt").await;
    let res = s.verify(&token).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    expect_user_read(&res.json(), "king.arthur@camelot.bt", (true, false, true));
    assert!(s.row(user.id).await.unwrap().is_verified);
    assert_eq!(s.me(&access).await.json()["is_verified"], true);
    expect_code(
        &s.verify(&token).await,
        "VERIFY_USER_ALREADY_VERIFIED",
        "second time",
    );
}

async fn verify_refuses_bad_and_foreign_tokens(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, access) = s.member("king.arthur@camelot.bt").await;
    let verify = s.verify_token("king.arthur@camelot.bt").await;
    let reset = s.reset_token("king.arthur@camelot.bt").await;
    let cases = [
        ("garbage", "garbage".to_owned()),
        ("expired", expired(&verify, SECRET)),
        (
            "other secret",
            sign_with("another-secret-of-enough-length-0123456789", &claims(&verify)),
        ),
        ("reset token", reset),
        ("access token", access),
    ];
    for (context, token) in &cases {
        expect_code(&s.verify(token).await, "VERIFY_USER_BAD_TOKEN", context);
    }
    expect_invalid(
        &s.send(Req::post("/auth/verify").json(&json!({}))).await,
        "no token",
    );
    // The real token still works.
    assert_eq!(s.verify(&verify).await.status, StatusCode::OK);
}

async fn a_verify_token_dies_when_the_email_changes(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, access) = s.member("king.arthur@camelot.bt").await;
    let verify = s.verify_token("king.arthur@camelot.bt").await;
    let res = s
        .send(
            Req::patch("/users/me")
                .bearer(&access)
                .json(&json!({"email": "arthur@camelot.bt"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    expect_code(&s.verify(&verify).await, "VERIFY_USER_BAD_TOKEN", "old email");
}

// ---------------------------------------------------------------------------------------------
// Token claims
// ---------------------------------------------------------------------------------------------

async fn access_token_claims_are_fastapi_users_claims(kind: Setup) {
    let s = Server::start(kind).await;
    let (user, _) = s.member("king.arthur@camelot.bt").await;
    let before = now();
    let token = s.login("king.arthur@camelot.bt", PASSWORD).await;
    let after = now();

    let header: Value =
        serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    let payload = claims(&token);
    // FastAPI Users' claims, then ours (tokens-http.md): `iat`, a 128-bit `jti`, and with
    // revocation the session generation `gen`. FastAPI Users and PyJWT ignore the extra ones.
    let expected: &[&str] = match s.tokens {
        TokenKind::JwtRevocable => &["aud", "exp", "gen", "iat", "jti", "sub"],
        _ => &["aud", "exp", "iat", "jti", "sub"],
    };
    assert_eq!(keys(&payload), expected, "{payload}");
    assert!(
        (before..=after).contains(&payload["iat"].as_u64().unwrap()),
        "{payload}"
    );
    let jti = payload["jti"].as_str().unwrap();
    assert!(B64.decode(jti).unwrap().len() >= 16, "{jti}");
    assert_eq!(payload["sub"], user.id.to_string());
    assert_eq!(payload["aud"], json!(["fastapi-users:auth"]));
    let exp = payload["exp"].as_u64().unwrap();
    assert!(
        (before + 3600..=after + 3600).contains(&exp),
        "exp {exp} ≈ now + 3600"
    );

    // What a FastAPI Users service with the same secret would check.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["fastapi-users:auth"]);
    jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_secret(SECRET.as_bytes()), &validation)
        .expect("valid under the shared secret");
}

async fn reset_and_verify_token_claims_are_fastapi_users_claims(kind: Setup) {
    let s = Server::start(kind).await;
    let (user, _) = s.member("king.arthur@camelot.bt").await;
    let before = now();
    let reset = claims(&s.reset_token("king.arthur@camelot.bt").await);
    let verify = claims(&s.verify_token("king.arthur@camelot.bt").await);
    let after = now();

    // FastAPI Users' claims, and the address it was mailed to (an email change ends it).
    assert_eq!(
        keys(&reset),
        ["aud", "email", "exp", "password_fgpt", "sub"],
        "{reset}"
    );
    assert_eq!(reset["email"], "king.arthur@camelot.bt");
    assert_eq!(reset["sub"], user.id.to_string());
    assert_eq!(reset["aud"], "fastapi-users:reset");
    let fingerprint = reset["password_fgpt"].as_str().unwrap();
    assert!(fingerprint.starts_with("$argon2id$"), "{fingerprint}");
    assert_ne!(
        fingerprint, user.hashed_password,
        "a hash of the hash, not the hash"
    );

    assert_eq!(keys(&verify), ["aud", "email", "exp", "sub"], "{verify}");
    assert_eq!(verify["sub"], user.id.to_string());
    assert_eq!(verify["email"], "king.arthur@camelot.bt");
    assert_eq!(verify["aud"], "fastapi-users:verify");

    for payload in [&reset, &verify] {
        let exp = payload["exp"].as_u64().unwrap();
        assert!(
            (before + 3600..=after + 3600).contains(&exp),
            "exp {exp} ≈ now + 3600"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// #[protected(active | verified | superuser)] on the app's own routes
// ---------------------------------------------------------------------------------------------

async fn protected_routes_of_the_app_apply_fastapi_users_rules(kind: Setup) {
    let s = Server::start(kind).await;
    let (_, plain) = s.member("plain@example.com").await;
    let (_, verified) = s.account("verified@example.com", false, true).await;
    let (_, admin) = s.account("admin@example.com", true, false).await;
    let (sleeper, inactive) = s.account("sleeper@example.com", true, true).await;
    s.deactivate(sleeper.id).await;

    let get = |path: &'static str, token: &str| s.send(Req::get(path).bearer(token));
    // (path, [plain user, verified user, unverified superuser])
    let table = [
        ("/app/active", [200, 200, 200]),
        ("/app/verified", [403, 200, 403]),
        ("/app/superuser", [403, 403, 200]),
    ];
    let callers = [
        ("plain@example.com", &plain),
        ("verified@example.com", &verified),
        ("admin@example.com", &admin),
    ];
    for (path, expected) in table {
        for ((email, token), status) in callers.into_iter().zip(expected) {
            let res = get(path, token).await;
            let context = format!("{path} as {email}");
            if status == 200 {
                expect(&res, StatusCode::OK, json!({ "email": email }), &context);
            } else {
                expect_forbidden(&res, &context);
            }
        }
        expect_unauthorized(
            &get(path, &inactive).await,
            &format!("{path} as an inactive user"),
        );
        expect_unauthorized(&s.send(Req::get(path)).await, &format!("{path} anonymous"));
    }

    // The example's own `#[protected(active)]` route.
    let res = get("/authenticated-route", &plain).await;
    expect(
        &res,
        StatusCode::OK,
        json!({"message": "Hello plain@example.com!"}),
        "example route",
    );
    expect_unauthorized(
        &get("/authenticated-route", &inactive).await,
        "example route, inactive",
    );
}

// ---------------------------------------------------------------------------------------------
// A database and tokens made by FastAPI Users 15
// ---------------------------------------------------------------------------------------------

fn fixture() -> Value {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("tokens.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fixture_user(fixture: &Value, label: &str) -> (Uuid, String, String) {
    let user = &fixture["users"][label];
    (
        Uuid::parse_str(user["id"].as_str().unwrap()).unwrap(),
        user["email"].as_str().unwrap().to_owned(),
        user["password"].as_str().unwrap().to_owned(),
    )
}

fn fixture_token(fixture: &Value, label: &str, kind: &str) -> String {
    fixture["users"][label]["tokens"][kind]
        .as_str()
        .unwrap_or_else(|| panic!("tokens.json has no {label}.{kind}"))
        .to_owned()
}

async fn fastapi_users_passwords_log_in_and_are_rehashed_to_ours(kind: Setup) {
    let s = Server::fastapi_users_db(kind).await;
    let fixture = fixture();
    let labels: Vec<&String> = fixture["users"].as_object().unwrap().keys().collect();
    assert!(labels.len() >= 5, "{labels:?}");
    let mut hashers = Vec::new();
    for label in labels {
        let user = &fixture["users"][label];
        if user["is_active"] != true {
            continue; // fastapi_users_inactive_user_cannot_log_in
        }
        let (id, email, password) = fixture_user(&fixture, label);
        let stored = s.row(id).await.unwrap().hashed_password;
        assert_eq!(
            stored, user["hashed_password"],
            "{label}: as FastAPI Users stored it"
        );
        assert!(!stored.starts_with(OUR_ARGON2), "{label}: {stored}");
        hashers.push(stored.split('$').nth(1).unwrap().to_owned());

        let token = s.login(&email, &password).await;
        let rehashed = s.row(id).await.unwrap().hashed_password;
        assert!(
            rehashed.starts_with(OUR_ARGON2),
            "{label}: rehashed to ours, got {rehashed}"
        );

        let again = s.login(&email, &password).await;
        assert_eq!(
            s.row(id).await.unwrap().hashed_password,
            rehashed,
            "{label}: ours stays"
        );
        for token in [token, again] {
            let me = s.me(&token).await;
            assert_eq!(me.status, StatusCode::OK, "{label}");
            assert_eq!(me.json()["id"], id.to_string(), "{label}");
        }
        expect_code(
            &s.try_login(&email, "not-the-password").await,
            "LOGIN_BAD_CREDENTIALS",
            &format!("{label}: wrong password"),
        );
    }
    hashers.sort();
    hashers.dedup();
    assert_eq!(
        hashers,
        ["2b", "argon2id"],
        "both of pwdlib's hashers were exercised"
    );
    // pydantic lower-cased only the domain; the lookup is case-insensitive.
    let (_, _, mixed_password) = fixture_user(&fixture, "mixed");
    s.login("mixed.case@EXAMPLE.com", &mixed_password).await;
}

async fn fastapi_users_inactive_user_cannot_log_in(kind: Setup) {
    let s = Server::fastapi_users_db(kind).await;
    let fixture = fixture();
    let (id, email, password) = fixture_user(&fixture, "inactive");
    expect_code(
        &s.try_login(&email, &password).await,
        "LOGIN_BAD_CREDENTIALS",
        "inactive fixture user",
    );
    let res = s
        .send(Req::post("/auth/cookie/login").form(&[("username", email.as_str()), ("password", &password)]))
        .await;
    expect_code(&res, "LOGIN_BAD_CREDENTIALS", "inactive fixture user, cookie");
    expect_code(
        &s.try_login(&email, "not-the-password").await,
        "LOGIN_BAD_CREDENTIALS",
        "inactive fixture user, wrong password",
    );
    assert!(!s.row(id).await.unwrap().is_active, "still inactive");
}

async fn fastapi_users_access_tokens_are_accepted_and_its_bad_ones_refused(kind: Setup) {
    let s = Server::fastapi_users_db(kind).await;
    let fixture = fixture();
    for label in ["argon", "bcrypt", "mixed", "admin"] {
        let (id, email, _) = fixture_user(&fixture, label);
        let user = &fixture["users"][label];
        let res = s.me(&fixture_token(&fixture, label, "access")).await;
        assert_eq!(res.status, StatusCode::OK, "{label}: {}", res.text());
        let flags = (
            user["is_active"].as_bool().unwrap(),
            user["is_superuser"].as_bool().unwrap(),
            user["is_verified"].as_bool().unwrap(),
        );
        expect_user_read(&res.json(), &email, flags);
        assert_eq!(id_of(&res.json()), id, "{label}");
        let cookie = s
            .send(Req::get("/users/me").cookie("fastapiusersauth", &fixture_token(&fixture, label, "access")))
            .await;
        assert_eq!(cookie.status, StatusCode::OK, "{label}: as the cookie");
    }
    for label in ["argon", "bcrypt", "mixed", "admin", "inactive"] {
        for kind in ["access_expired", "access_other_secret"] {
            expect_unauthorized(
                &s.me(&fixture_token(&fixture, label, kind)).await,
                &format!("{label}.{kind}"),
            );
        }
    }
    expect_unauthorized(
        &s.me(&fixture_token(&fixture, "inactive", "access")).await,
        "inactive.access",
    );
    // FastAPI Users' superuser token works on the superuser routes.
    let (argon_id, _, _) = fixture_user(&fixture, "argon");
    let res = s
        .send(Req::get(&format!("/users/{argon_id}")).bearer(&fixture_token(&fixture, "admin", "access")))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    expect_forbidden(
        &s.send(Req::get(&format!("/users/{argon_id}")).bearer(&fixture_token(&fixture, "bcrypt", "access")))
            .await,
        "bcrypt is no superuser",
    );
}

async fn fastapi_users_reset_token_resets_the_password(kind: Setup) {
    let s = Server::fastapi_users_db(kind).await;
    let fixture = fixture();
    let (_, email, old) = fixture_user(&fixture, "argon");
    let token = fixture_token(&fixture, "argon", "reset");
    expect(
        &s.reset(&token, "a-brand-new-password").await,
        StatusCode::OK,
        Value::Null,
        "reset",
    );
    s.login(&email, "a-brand-new-password").await;
    expect_code(
        &s.try_login(&email, &old).await,
        "LOGIN_BAD_CREDENTIALS",
        "old password",
    );
    expect_code(
        &s.reset(&token, "yet-another-password").await,
        "RESET_PASSWORD_BAD_TOKEN",
        "second use",
    );
    for (label, kind) in [
        ("mixed", "reset_expired"),
        ("inactive", "reset_handmade"),
        ("bcrypt", "verify"),
        ("bcrypt", "access"),
    ] {
        expect_code(
            &s.reset(&fixture_token(&fixture, label, kind), "yet-another-password")
                .await,
            "RESET_PASSWORD_BAD_TOKEN",
            &format!("{label}.{kind}"),
        );
    }
}

async fn fastapi_users_verify_token_verifies(kind: Setup) {
    let s = Server::fastapi_users_db(kind).await;
    let fixture = fixture();
    let (id, email, _) = fixture_user(&fixture, "bcrypt");
    let res = s.verify(&fixture_token(&fixture, "bcrypt", "verify")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    expect_user_read(&res.json(), &email, (true, false, true));
    assert!(s.row(id).await.unwrap().is_verified);
    expect_code(
        &s.verify(&fixture_token(&fixture, "bcrypt", "verify")).await,
        "VERIFY_USER_ALREADY_VERIFIED",
        "second time",
    );
    expect_code(
        &s.verify(&fixture_token(&fixture, "mixed", "verify_expired"))
            .await,
        "VERIFY_USER_BAD_TOKEN",
        "mixed.verify_expired",
    );
    expect_code(
        &s.verify(&fixture_token(&fixture, "mixed", "reset")).await,
        "VERIFY_USER_BAD_TOKEN",
        "mixed.reset",
    );
    expect_code(
        &s.verify(&fixture_token(&fixture, "argon", "verify_handmade"))
            .await,
        "VERIFY_USER_ALREADY_VERIFIED",
        "argon is verified already",
    );
    let res = s.verify(&fixture_token(&fixture, "mixed", "verify")).await;
    expect_user_read(&res.json(), "Mixed.Case@example.com", (true, false, true));
}

// ---------------------------------------------------------------------------------------------
// Concurrent registrations
// ---------------------------------------------------------------------------------------------

async fn concurrent_registrations_of_one_email_make_exactly_one_user(kind: Setup) {
    let s = Arc::new(Server::start(kind).await);
    race_twenty_registrations(|req| {
        let s = Arc::clone(&s);
        async move { s.send(req).await }
    })
    .await;
    assert_eq!(s.db.count_users().await, 1, "exactly one row");
    s.login("race.condition@example.com", PASSWORD).await;
}

/// [`concurrent_registrations_of_one_email_make_exactly_one_user`] on the `MemoryStore` (which
/// has no token strategy of its own to vary).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_concurrent_registrations_of_one_email_make_exactly_one_user() {
    let store = Arc::new(MemoryStore::default());
    let users = Users::builder(store.clone()).secret(SECRET).build().unwrap();
    let http = Arc::new(Via::http(app(users)).await);
    race_twenty_registrations(|req| {
        let http = Arc::clone(&http);
        async move { http.send(req).await }
    })
    .await;
    assert_eq!(
        format!("{store:?}"),
        "MemoryStore { users: 1 }",
        "exactly one user"
    );
    let res = http
        .send(
            Req::post("/auth/jwt/login")
                .form(&[("username", "race.condition@example.com"), ("password", PASSWORD)]),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

/// 20 registrations of one email (in four cases) sent at once through `send`: exactly one is
/// answered 201, every other `REGISTER_USER_ALREADY_EXISTS`.
async fn race_twenty_registrations<F, Fut>(send: F)
where
    F: Fn(Req) -> Fut,
    Fut: Future<Output = Res> + Send + 'static,
{
    let variants = [
        "race.condition@example.com",
        "Race.Condition@example.com",
        "RACE.CONDITION@EXAMPLE.COM",
        "race.condition@Example.Com",
    ];
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let email = variants[i % variants.len()];
            tokio::spawn(send(
                Req::post("/auth/register").json(&json!({"email": email, "password": PASSWORD})),
            ))
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let res = task.await.unwrap();
        match res.status {
            StatusCode::CREATED => created += 1,
            _ => expect_code(&res, "REGISTER_USER_ALREADY_EXISTS", "a losing registration"),
        }
    }
    assert_eq!(created, 1, "exactly one 201");
}

// ---------------------------------------------------------------------------------------------
// The built binary: create-user, mail lines on stdout, configuration errors
// ---------------------------------------------------------------------------------------------

const CLI_SECRET: &str = "cli-test-secret-0123456789abcdef-0123456789";

/// The binary with a clean configuration: this database, this secret, a free port. Everything it
/// reads is set here, `DATABASE_URL` above all (CI exports a `postgres://` one for the whole run).
fn users_command(dir: &TempDir, database_url: &str, secret: &str) -> Command {
    let mut cmd = Command::new(users_binary());
    cmd.current_dir(&dir.0)
        .env("DATABASE_URL", database_url)
        .env("SECRET", secret)
        .env("PORT", free_port().to_string())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        // Plain JWTs, whatever the environment of the test run says.
        .env_remove("REDIS_URL")
        .env_remove("BEARER_STRATEGY")
        .env_remove("COOKIE_STRATEGY")
        .env_remove("JWT_REVOCATION")
        .stdin(Stdio::null());
    cmd
}

/// Runs to the end (at most 30 s); exit status, stdout, stderr.
fn run(mut cmd: Command, dir: &TempDir) -> (std::process::ExitStatus, String, String) {
    let name = Uuid::new_v4();
    let out_path = dir.0.join(format!("{name}.out"));
    let err_path = dir.0.join(format!("{name}.err"));
    let mut child = cmd
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the binary did not exit within 30 s; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status, read(&out_path), read(&err_path))
}

/// Serves with this `SECRET`, or none at all.
fn start_server(dir: &TempDir, database_url: &str, secret: Option<&str>) -> Running {
    let mut cmd = users_command(dir, database_url, secret.unwrap_or_default());
    if secret.is_none() {
        cmd.env_remove("SECRET");
    }
    Running::spawn(cmd, dir.0.join("server.err"))
}

/// The token of a `<prefix><token>` line, which must be the whole line.
#[track_caller]
fn token_line(line: &str, prefix: &str) -> String {
    let token = line
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected `{prefix}<token>`, got `{line}`"));
    assert!(
        token.split('.').count() == 3 && !token.contains(char::is_whitespace),
        "a JWT: `{token}`"
    );
    token.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_creates_a_superuser_and_mails_tokens_on_stdout() {
    let dir = TempDir::new();
    let url = dir.db_url();
    let mut create = users_command(&dir, &url, CLI_SECRET);
    create.args([
        "create-user",
        "--email",
        "root@example.com",
        "--password",
        "root-password-1",
        "--superuser",
        "--verified",
    ]);
    let (status, stdout, stderr) = run(create, &dir);
    assert!(status.success(), "create-user: {status}\n{stderr}");
    let printed: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    expect_user_read(&printed, "root@example.com", (true, true, true));
    let store = SqliteStore::connect(&url).await.unwrap();
    let root = store
        .get_by_email("root@example.com")
        .await
        .unwrap()
        .expect("the row");
    assert_eq!(
        (root.is_active, root.is_superuser, root.is_verified),
        (true, true, true)
    );
    assert_eq!(root.id, id_of(&printed));
    assert!(root.hashed_password.starts_with(OUR_ARGON2));

    let server = start_server(&dir, &url, Some(CLI_SECRET));
    let http = server.via();
    let res = http
        .send(
            Req::post("/auth/jwt/login")
                .form(&[("username", "root@example.com"), ("password", "root-password-1")]),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let admin = res.json()["access_token"].as_str().unwrap().to_owned();

    let email = "king.arthur@camelot.bt";
    let res = http
        .send(Req::post("/auth/register").json(&json!({"email": email, "password": PASSWORD})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let id = id_of(&res.json());
    let res = http.send(Req::get(&format!("/users/{id}")).bearer(&admin)).await;
    assert_eq!(res.status, StatusCode::OK, "the CLI's superuser: {}", res.text());

    let res = http
        .send(Req::post("/auth/forgot-password").json(&json!({ "email": email })))
        .await;
    expect(&res, StatusCode::ACCEPTED, Value::Null, "forgot-password");
    let reset = token_line(
        &server.next_line(),
        &format!("reset-password token for {email}: "),
    );
    assert_eq!(claims(&reset)["aud"], "fastapi-users:reset");

    let res = http
        .send(Req::post("/auth/request-verify-token").json(&json!({ "email": email })))
        .await;
    expect(&res, StatusCode::ACCEPTED, Value::Null, "request-verify-token");
    let verify = token_line(&server.next_line(), &format!("verify token for {email}: "));
    assert_eq!(claims(&verify)["aud"], "fastapi-users:verify");

    let res = http
        .send(
            Req::post("/auth/reset-password").json(&json!({"token": reset, "password": "lancelot-and-more"})),
        )
        .await;
    expect(&res, StatusCode::OK, Value::Null, "reset with the mailed token");
    let res = http
        .send(Req::post("/auth/jwt/login").form(&[("username", email), ("password", "lancelot-and-more")]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "the new password: {}", res.text());
    let res = http
        .send(Req::post("/auth/verify").json(&json!({ "token": verify })))
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "verify with the mailed token: {}",
        res.text()
    );
    expect_user_read(&res.json(), email, (true, false, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_without_a_secret_warns_and_serves_with_a_random_one() {
    let dir = TempDir::new();
    let server = start_server(&dir, &dir.db_url(), None);
    let http = server.via();
    let res = http
        .send(Req::post("/auth/register").json(&json!({"email": "a@example.com", "password": PASSWORD})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let res = http
        .send(Req::post("/auth/jwt/login").form(&[("username", "a@example.com"), ("password", PASSWORD)]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let token = res.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        http.send(Req::get("/users/me").bearer(&token)).await.status,
        StatusCode::OK
    );
    let forged = sign_with(CLI_SECRET, &claims(&token));
    expect_unauthorized(
        &http.send(Req::get("/users/me").bearer(&forged)).await,
        "not signed with a guessable secret",
    );
    let stderr = server.stderr();
    assert!(
        stderr.contains("SECRET") && stderr.to_lowercase().contains("warn"),
        "a warning:\n{stderr}"
    );
}

#[test]
fn binary_refuses_a_database_url_it_cannot_serve() {
    let dir = TempDir::new();
    for url in [
        "mysql://x",
        "postgres-but-not-really",
        "mysql://ann:s3cret@db/app",
        "postgres://ann:s3cret@127.0.0.1:1/app",
    ] {
        let (status, _, stderr) = run(users_command(&dir, url, CLI_SECRET), &dir);
        assert!(!status.success(), "{url}: exits non-zero");
        assert!(
            stderr.contains("DATABASE_URL"),
            "{url}: names DATABASE_URL:\n{stderr}"
        );
        assert!(
            !stderr.contains("s3cret"),
            "{url}: the password is not shown:\n{stderr}"
        );
    }
}

#[test]
fn binary_refuses_a_short_secret() {
    let dir = TempDir::new();
    let (status, _, stderr) = run(users_command(&dir, &dir.db_url(), "too-short"), &dir);
    assert!(!status.success(), "exits non-zero");
    assert!(stderr.contains("secret"), "names the secret:\n{stderr}");
    let mut create = users_command(&dir, &dir.db_url(), "too-short");
    create.args(["create-user", "--email", "a@example.com", "--password", PASSWORD]);
    let (status, _, stderr) = run(create, &dir);
    assert!(!status.success(), "create-user exits non-zero too");
    assert!(stderr.contains("secret"), "names the secret:\n{stderr}");
}

// ---------------------------------------------------------------------------------------------
// MemoryStore, SqliteStore and PostgresStore through the UserStore trait
// ---------------------------------------------------------------------------------------------

/// One run of the store contract; `name` says which store failed.
async fn store_contract(store: &dyn UserStore, name: &str) {
    let mut new = User::new("Ann@example.com", "hash-1");
    new.is_verified = true;
    let ann = store.create(new).await.unwrap();
    assert_eq!(
        (
            ann.email.as_str(),
            ann.hashed_password.as_str(),
            ann.is_active,
            ann.is_superuser,
            ann.is_verified
        ),
        ("Ann@example.com", "hash-1", true, false, true),
        "{name}: create returns the row"
    );
    assert_eq!(store.get(ann.id).await.unwrap(), Some(ann.clone()), "{name}: get");
    assert_eq!(
        store.get(Uuid::new_v4()).await.unwrap(),
        None,
        "{name}: get unknown"
    );
    for email in ["Ann@example.com", "ann@example.com", "ANN@EXAMPLE.COM"] {
        assert_eq!(
            store.get_by_email(email).await.unwrap(),
            Some(ann.clone()),
            "{name}: get_by_email {email}"
        );
    }
    assert_eq!(
        store.get_by_email("bob@example.com").await.unwrap(),
        None,
        "{name}"
    );

    let taken = store.create(User::new("aNN@example.com", "hash-x")).await;
    assert!(
        matches!(taken, Err(StoreError::EmailTaken)),
        "{name}: create, taken: {taken:?}"
    );

    let mut bob = User::new("bob@example.com", "hash-b");
    bob.is_superuser = true;
    let bob = store.create(bob).await.unwrap();
    assert!(bob.is_superuser, "{name}: flags are stored");

    // A patch sets its columns and leaves the others.
    let patch = UserPatch {
        hashed_password: Some("hash-2".into()),
        ..UserPatch::default()
    };
    let updated = store.update(ann.id, &patch).await.unwrap().unwrap();
    let expected = User {
        hashed_password: "hash-2".into(),
        ..ann.clone()
    };
    assert_eq!(updated, expected, "{name}: update of the password only");
    let patch = UserPatch {
        is_active: Some(false),
        is_verified: Some(false),
        ..UserPatch::default()
    };
    let updated = store.update(ann.id, &patch).await.unwrap().unwrap();
    let expected = User {
        is_active: false,
        is_verified: false,
        ..expected
    };
    assert_eq!(updated, expected, "{name}: update of two flags");
    assert_eq!(
        store.get(ann.id).await.unwrap(),
        Some(expected.clone()),
        "{name}: stored"
    );

    let patch = UserPatch {
        email: Some("BOB@example.com".into()),
        ..UserPatch::default()
    };
    let taken = store.update(ann.id, &patch).await;
    assert!(
        matches!(taken, Err(StoreError::EmailTaken)),
        "{name}: update, taken: {taken:?}"
    );
    assert_eq!(
        store.get(ann.id).await.unwrap(),
        Some(expected.clone()),
        "{name}: unchanged"
    );

    let patch = UserPatch {
        email: Some("ANN@example.com".into()),
        ..UserPatch::default()
    };
    let recased = store.update(ann.id, &patch).await.unwrap().unwrap();
    assert_eq!(
        recased.email, "ANN@example.com",
        "{name}: one's own email in another case"
    );

    let patch = UserPatch {
        email: Some("anne@example.com".into()),
        ..UserPatch::default()
    };
    store.update(ann.id, &patch).await.unwrap().unwrap();
    assert_eq!(
        store.get_by_email("ann@example.com").await.unwrap(),
        None,
        "{name}: old email freed"
    );
    assert_eq!(
        store
            .get_by_email("Anne@Example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(ann.id),
        "{name}: new email"
    );
    assert_eq!(
        store.update(Uuid::new_v4(), &patch).await.unwrap(),
        None,
        "{name}: update unknown"
    );

    assert!(store.delete(ann.id).await.unwrap(), "{name}: delete");
    assert!(!store.delete(ann.id).await.unwrap(), "{name}: delete again");
    assert_eq!(store.get(ann.id).await.unwrap(), None, "{name}: deleted");
    store
        .create(User::new("anne@example.com", "hash-3"))
        .await
        .unwrap_or_else(|e| panic!("{name}: a deleted user's email is free again: {e}"));
    assert_eq!(
        store.get(bob.id).await.unwrap(),
        Some(bob),
        "{name}: bob untouched"
    );
}

#[tokio::test]
async fn memory_store_keeps_the_store_contract() {
    store_contract(&MemoryStore::default(), "MemoryStore").await;
}

/// The same contract as [`memory_store_keeps_the_store_contract`].
async fn database_store_keeps_the_store_contract(kind: Setup) {
    let db = TestDb::empty(&kind.store).await;
    store_contract(&*db.store, kind.store.store_name()).await;
}

// ---------------------------------------------------------------------------------------------
// The suite's entry points: `<store>::<strategy>::<name>`
// ---------------------------------------------------------------------------------------------

on_each_store_and_strategy! {
    all: [
        register_creates_an_active_ordinary_unverified_user_whatever_the_body_says,
        register_refuses_an_email_taken_in_any_case,
        register_refuses_too_short_and_too_long_passwords_with_a_reason,
        register_validation_failures_are_422,
        jwt_login_takes_an_urlencoded_or_a_multipart_form,
        jwt_login_failures_are_one_indistinguishable_400,
        jwt_login_validation_failures_are_422,
        jwt_logout_needs_a_token,
        cookie_login_sets_fastapi_users_cookie,
        cookie_login_failures_are_those_of_jwt_login,
        cookie_logout_clears_the_cookie,
        me_returns_the_current_user,
        me_refuses_missing_bad_expired_and_foreign_tokens_and_inactive_users,
        patch_me_changes_email_and_password_and_ignores_flags_and_id,
        patch_me_keeps_verified_when_only_the_password_changes,
        patch_me_refuses_a_taken_email_a_bad_password_and_anonymous_users,
        superuser_reads_any_user,
        superuser_patch_sets_flags_email_and_password,
        superuser_patch_refuses_a_taken_email_and_a_bad_password,
        superuser_deletes_a_user,
        user_routes_check_401_then_403_then_404,
        an_inactive_superuser_is_anonymous_on_user_routes,
        forgot_password_is_202_for_everyone_and_mails_only_known_active_users,
        reset_password_sets_the_password_and_the_token_works_once,
        reset_password_refuses_bad_expired_and_foreign_tokens,
        reset_password_refuses_a_bad_password_with_a_reason,
        request_verify_token_is_202_for_everyone_and_mails_only_unverified_active_users,
        verify_marks_the_user_verified_once,
        verify_refuses_bad_and_foreign_tokens,
        a_verify_token_dies_when_the_email_changes,
        reset_and_verify_token_claims_are_fastapi_users_claims,
        protected_routes_of_the_app_apply_fastapi_users_rules,
        fastapi_users_passwords_log_in_and_are_rehashed_to_ours,
        fastapi_users_inactive_user_cannot_log_in,
        fastapi_users_reset_token_resets_the_password,
        fastapi_users_verify_token_verifies,
        concurrent_registrations_of_one_email_make_exactly_one_user(flavor = "multi_thread", worker_threads = 4),
        database_store_keeps_the_store_contract,
    ],
    // Only meaningful when the access token is a JWT: its claims, and access tokens FastAPI Users
    // made (JWTs) presented as the bearer token and the cookie. Two tests of `all` skip their few
    // JWT-only cases on the other strategies (`TokenKind::is_jwt`): the cookie's claims in
    // `cookie_login_sets_fastapi_users_cookie`, the re-signed access tokens in
    // `me_refuses_missing_bad_expired_and_foreign_tokens_and_inactive_users`.
    jwt_only: [
        access_token_claims_are_fastapi_users_claims,
        fastapi_users_access_tokens_are_accepted_and_its_bad_ones_refused,
    ],
    postgres: [jwt, jwt_revocable, database, redis],
}
