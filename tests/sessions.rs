//! `docs/contract/tokens-http.md`, "One token per session, exact revocation", on every store and
//! every revocable token strategy, over a real socket: two logins in one millisecond get two
//! tokens; a logout ends exactly its session; a password change, a reset, a deactivation and a
//! deletion end every earlier session with no time window (no test here sleeps to the next second),
//! even against logins racing the change; FastAPI Users' own tokens live until the user's first
//! such change, whatever their lifetime; a reset token dies when the email changes.
//!
//! Runs as `<store>::<strategy>::<name>`: the stores `memory`, `sqlite` and `postgres` (the
//! PostgreSQL of `DATABASE_URL`, a schema per test), the
//! strategies `jwt` (stateless: uniqueness only), `jwt_revocable` (revocation in the users'
//! database), `jwt_redis` (revocation in the Redis of `REDIS_URL`), `database` (FastAPI Users'
//! `accesstoken` table) and `redis` (FastAPI Users' Redis strategy). The runs on PostgreSQL or Redis
//! are `#[ignore = "needs …"]`: run them with `-- --include-ignored` (they fail, naming the
//! variable, without it).

mod support;
use support::users_db;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use login_users::{
    DatabaseStrategy, MemoryRevocations, MemoryStore, RedisStore, RedisStrategy, Throttle, TokenStrategy,
    User, UserHooks, UserStore, Users,
};
use serde_json::{Value, json};
use support::{Req, Res, Via, now};
use users_db::{StoreKind, TestDb};

const SECRET: &str = "sessions-test-secret-0123456789abcdef";
const PASSWORD: &str = "guinevere";

/// Records the reset tokens the app mails.
#[derive(Clone, Default)]
struct Mailbox(Arc<Mutex<Vec<(String, String)>>>);

impl UserHooks for Mailbox {
    async fn on_after_forgot_password(&self, user: &User, token: &str) {
        self.0
            .lock()
            .unwrap()
            .push((user.email.clone(), token.to_owned()));
    }
}

/// Where the users live.
#[derive(Clone, Copy, Debug)]
enum Store {
    Memory,
    Sqlite,
    Postgres,
}

/// The strategy of both login backends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tokens {
    Jwt,
    JwtRevocable,
    JwtRedis,
    Database,
    Redis,
}

impl Tokens {
    fn is_jwt(self) -> bool {
        matches!(self, Self::Jwt | Self::JwtRevocable | Self::JwtRedis)
    }
}

/// The `users` example's app on a test's own store, served on 127.0.0.1.
struct Server {
    base: String,
    client: reqwest::Client,
    http: Via,
    users: Users,
    mail: Mailbox,
    _db: Option<TestDb>,
}

impl Server {
    /// Panics, naming the variable, when the store or strategy needs a service that is not
    /// configured.
    async fn start(store: Store, tokens: Tokens) -> Self {
        let mail = Mailbox::default();
        let (user_store, db): (Arc<dyn UserStore>, Option<TestDb>) = match store {
            Store::Memory => (Arc::new(MemoryStore::default()), None),
            Store::Sqlite => {
                let db = TestDb::empty(&StoreKind::Sqlite).await;
                (Arc::clone(&db.store), Some(db))
            }
            Store::Postgres => {
                let kind = StoreKind::postgres();
                let db = TestDb::empty(&kind).await;
                (Arc::clone(&db.store), Some(db))
            }
        };
        // The racing logins fail by the dozen once the password changed: not the throttle's test.
        let mut builder = Users::builder(user_store)
            .hooks(mail.clone())
            .throttle(Throttle::disabled())
            .secret(SECRET);
        let strategy: Option<Arc<dyn TokenStrategy>> = match tokens {
            Tokens::Jwt => None,
            Tokens::JwtRevocable => {
                builder = match &db {
                    Some(db) => builder.revocation(db.revocations()),
                    None => builder.revocation(Arc::new(MemoryRevocations::default())),
                };
                None
            }
            Tokens::JwtRedis => {
                let redis = RedisStore::connect(&support::needs("REDIS_URL")).await.unwrap();
                builder = builder.revocation(Arc::new(redis));
                None
            }
            Tokens::Database => {
                let db = db.as_ref().expect("the database strategy needs a database");
                Some(Arc::new(DatabaseStrategy::new(db.access_tokens()).await.unwrap()))
            }
            Tokens::Redis => {
                let redis = RedisStore::connect(&support::needs("REDIS_URL")).await.unwrap();
                Some(Arc::new(RedisStrategy::new(redis)))
            }
        };
        if let Some(strategy) = strategy {
            builder = builder
                .bearer_strategy(Arc::clone(&strategy))
                .cookie_strategy(strategy);
        }
        let users = builder.build().unwrap();
        let addr = support::serve(users_example::app(users.clone())).await;
        let base = format!("http://{addr}");
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let http = Via::Http {
            base: base.clone(),
            client: client.clone(),
        };
        Self {
            base,
            client,
            http,
            users,
            mail,
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

    async fn superuser(&self) -> String {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        let mut new = login_users::CreateUser::new(&email, PASSWORD);
        new.is_superuser = true;
        self.users.create(new).await.unwrap();
        self.bearer_login(&email, PASSWORD).await
    }

    /// `POST /auth/jwt/login`; the access token.
    async fn bearer_login(&self, email: &str, password: &str) -> String {
        let res = self
            .send(Req::post("/auth/jwt/login").form(&[("username", email), ("password", password)]))
            .await;
        assert_eq!(res.status, StatusCode::OK, "login {email}: {}", res.text());
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST /auth/cookie/login`; the cookie's token.
    async fn cookie_login(&self, email: &str, password: &str) -> String {
        let res = self
            .send(Req::post("/auth/cookie/login").form(&[("username", email), ("password", password)]))
            .await;
        assert_eq!(
            res.status,
            StatusCode::NO_CONTENT,
            "cookie login {email}: {}",
            res.text()
        );
        let cookie = res.header("set-cookie").expect("a cookie");
        let value = cookie
            .strip_prefix("fastapiusersauth=")
            .and_then(|rest| rest.split(';').next())
            .expect("the auth cookie");
        value.to_owned()
    }

    async fn me_bearer(&self, token: &str) -> StatusCode {
        self.send(Req::get("/users/me").bearer(token)).await.status
    }

    async fn me_cookie(&self, token: &str) -> StatusCode {
        self.send(Req::get("/users/me").cookie("fastapiusersauth", token))
            .await
            .status
    }

    async fn id_of(&self, token: &str) -> String {
        let res = self.send(Req::get("/users/me").bearer(token)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        res.json()["id"].as_str().unwrap().to_owned()
    }

    async fn patch_me(&self, token: &str, body: Value) -> Res {
        self.send(Req::patch("/users/me").bearer(token).json(&body)).await
    }

    async fn patch_user(&self, admin: &str, id: &str, body: Value) -> Res {
        self.send(Req::patch(&format!("/users/{id}")).bearer(admin).json(&body))
            .await
    }
}

/// The payload of a JWT, unverified.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The contract's points.
// ---------------------------------------------------------------------------------------------

/// Eight logins of one user at once, on both backends: eight different tokens, each working; a JWT
/// carries `iat` and a `jti` of at least 128 random bits.
async fn logins_at_once_get_tokens_of_their_own(store: Store, tokens: Tokens) {
    let server = Server::start(store, tokens).await;
    let email = server.user("twins").await;
    let logins = (0..8).map(|i| {
        let (server, email) = (&server, &email);
        async move {
            if i % 2 == 0 {
                server.bearer_login(email, PASSWORD).await
            } else {
                server.cookie_login(email, PASSWORD).await
            }
        }
    });
    let issued = futures_join_all(logins).await;
    let mut unique = issued.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), issued.len(), "{tokens:?}: {issued:#?}");
    for token in &issued {
        assert_eq!(server.me_bearer(token).await, StatusCode::OK);
        if tokens.is_jwt() {
            let claims = payload(token);
            let jti = claims["jti"].as_str().expect("a jti");
            assert!(B64.decode(jti).unwrap().len() >= 16, "128 bits: {jti}");
            let iat = claims["iat"].as_u64().expect("an iat");
            assert!(iat.abs_diff(now()) <= 5, "{claims}");
            assert_eq!(claims["aud"], json!(["fastapi-users:auth"]));
        }
    }
}

/// `join_all` without a dependency: the futures run concurrently on this task.
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut done: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *out = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.extend(done.into_iter().map(Option::unwrap));
    outputs
}

/// A bearer logout ends that token only: the user's other bearer session and cookie session keep
/// working; a cookie logout likewise; a login right after a logout gets a working token.
async fn a_logout_ends_exactly_its_session(store: Store, tokens: Tokens) {
    let server = Server::start(store, tokens).await;
    let email = server.user("logout").await;
    let phone = server.bearer_login(&email, PASSWORD).await;
    let laptop = server.bearer_login(&email, PASSWORD).await;
    let browser = server.cookie_login(&email, PASSWORD).await;

    let res = server.send(Req::post("/auth/jwt/logout").bearer(&phone)).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    assert_eq!(
        server.me_bearer(&phone).await,
        StatusCode::UNAUTHORIZED,
        "logged out"
    );
    assert_eq!(server.me_bearer(&laptop).await, StatusCode::OK, "another device");
    assert_eq!(server.me_cookie(&browser).await, StatusCode::OK, "the browser");

    let res = server
        .send(Req::post("/auth/cookie/logout").cookie("fastapiusersauth", &browser))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    assert_eq!(server.me_cookie(&browser).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.me_bearer(&laptop).await,
        StatusCode::OK,
        "the phone's logout is its own"
    );

    let again = server.bearer_login(&email, PASSWORD).await;
    assert_eq!(
        server.me_bearer(&again).await,
        StatusCode::OK,
        "a login after a logout"
    );
    let again = server.cookie_login(&email, PASSWORD).await;
    assert_eq!(
        server.me_cookie(&again).await,
        StatusCode::OK,
        "a cookie login after a logout"
    );
}

/// A password change through `PATCH /users/me`, then through `PATCH /users/{id}`, then a reset,
/// then a deactivation and reactivation, then a deletion: each ends every session that existed
/// before it, at once, on both backends, and a login after it works.
async fn every_change_ends_every_earlier_session_at_once(store: Store, tokens: Tokens) {
    let server = Server::start(store, tokens).await;
    let admin = server.superuser().await;
    let email = server.user("changes").await;
    let mut password = PASSWORD.to_owned();
    for (step, what) in ["patch me", "patch by id", "reset", "deactivation"]
        .into_iter()
        .enumerate()
    {
        let before = [
            server.bearer_login(&email, &password).await,
            server.bearer_login(&email, &password).await,
        ];
        let cookie = server.cookie_login(&email, &password).await;
        let id = server.id_of(&before[0]).await;
        let new = format!("{PASSWORD}-{step}");
        let res = match what {
            "patch me" => server.patch_me(&before[0], json!({ "password": new })).await,
            "patch by id" => server.patch_user(&admin, &id, json!({ "password": new })).await,
            "reset" => {
                let res = server
                    .send(Req::post("/auth/forgot-password").json(&json!({ "email": email })))
                    .await;
                assert_eq!(res.status, StatusCode::ACCEPTED);
                let token = server.mail.0.lock().unwrap().last().unwrap().1.clone();
                server
                    .send(Req::post("/auth/reset-password").json(&json!({ "token": token, "password": new })))
                    .await
            }
            _ => {
                let res = server
                    .patch_user(&admin, &id, json!({ "is_active": false }))
                    .await;
                assert_eq!(res.status, StatusCode::OK, "{}", res.text());
                server.patch_user(&admin, &id, json!({ "is_active": true })).await
            }
        };
        assert_eq!(res.status, StatusCode::OK, "{what}: {}", res.text());
        if what != "deactivation" {
            password = new;
        }
        for token in &before {
            assert_eq!(
                server.me_bearer(token).await,
                StatusCode::UNAUTHORIZED,
                "{what}: bearer"
            );
        }
        assert_eq!(
            server.me_cookie(&cookie).await,
            StatusCode::UNAUTHORIZED,
            "{what}: cookie"
        );
        let after = server.bearer_login(&email, &password).await;
        assert_eq!(
            server.me_bearer(&after).await,
            StatusCode::OK,
            "{what}: a login after it"
        );
        let after = server.cookie_login(&email, &password).await;
        assert_eq!(
            server.me_cookie(&after).await,
            StatusCode::OK,
            "{what}: a cookie login after it"
        );
    }
    let token = server.bearer_login(&email, &password).await;
    let id = server.id_of(&token).await;
    let res = server
        .send(Req::delete(&format!("/users/{id}")).bearer(&admin))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.me_bearer(&token).await,
        StatusCode::UNAUTHORIZED,
        "deleted"
    );
}

/// Logins with the old password race a password change: once the change has answered, no token
/// any of them obtained works, whenever it was answered; a login with the new password works.
async fn logins_racing_a_password_change_keep_no_session(store: Store, tokens: Tokens) {
    let server = Server::start(store, tokens).await;
    let email = server.user("race").await;
    let token = server.bearer_login(&email, PASSWORD).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut racers = Vec::new();
    for _ in 0..6 {
        let (client, base, email, stop) = (
            server.client.clone(),
            server.base.clone(),
            email.clone(),
            stop.clone(),
        );
        racers.push(tokio::spawn(async move {
            let mut won = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let res = client
                    .post(format!("{base}/auth/jwt/login"))
                    .form(&[("username", email.as_str()), ("password", PASSWORD)])
                    .send()
                    .await
                    .unwrap();
                if res.status() == StatusCode::OK {
                    let body: Value = res.json().await.unwrap();
                    won.push(body["access_token"].as_str().unwrap().to_owned());
                }
            }
            won
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = server
        .patch_me(&token, json!({ "password": "a new password" }))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut won = Vec::new();
    for racer in racers {
        won.extend(racer.await.unwrap());
    }
    assert!(!won.is_empty(), "the racers logged in before the change");
    for token in &won {
        assert_eq!(
            server.me_bearer(token).await,
            StatusCode::UNAUTHORIZED,
            "{tokens:?}: a token of the old password outlived the change ({} tokens)",
            won.len()
        );
    }
    let fresh = server.bearer_login(&email, "a new password").await;
    assert_eq!(server.me_bearer(&fresh).await, StatusCode::OK);
}

/// An access token as FastAPI Users writes it (no `iat`, no `jti`), with a 24-hour lifetime: it
/// works until the user's first password change, then never again (the JWT strategies).
async fn fastapi_users_tokens_live_until_the_first_change(store: Store, tokens: Tokens) {
    let server = Server::start(store, tokens).await;
    let email = server.user("legacy").await;
    let ours = server.bearer_login(&email, PASSWORD).await;
    let id = server.id_of(&ours).await;
    let theirs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": id, "aud": ["fastapi-users:auth"], "exp": now() + 24 * 3600 }),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        server.me_bearer(&theirs).await,
        StatusCode::OK,
        "before any change"
    );
    assert_eq!(
        server.me_cookie(&theirs).await,
        StatusCode::OK,
        "as the cookie too"
    );
    let res = server
        .patch_me(&ours, json!({ "password": "a new password" }))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(
        server.me_bearer(&theirs).await,
        StatusCode::UNAUTHORIZED,
        "after the change"
    );
    assert_eq!(server.me_cookie(&theirs).await, StatusCode::UNAUTHORIZED);
}

/// A reset token is bound to the address it was mailed to: once the email changed, it is refused.
async fn a_reset_token_dies_when_the_email_changes(store: Store, tokens: Tokens) {
    let server = Server::start(store, tokens).await;
    let email = server.user("moving").await;
    let token = server.bearer_login(&email, PASSWORD).await;
    let res = server
        .send(Req::post("/auth/forgot-password").json(&json!({ "email": email })))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED);
    let reset = server.mail.0.lock().unwrap().last().unwrap().1.clone();
    let moved = format!("moved-{email}");
    let res = server.patch_me(&token, json!({ "email": moved })).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = server
        .send(Req::post("/auth/reset-password").json(&json!({ "token": reset, "password": "taken over!" })))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    assert_eq!(res.json(), json!({ "detail": "RESET_PASSWORD_BAD_TOKEN" }));
    let res = server
        .send(Req::post("/auth/jwt/login").form(&[("username", moved.as_str()), ("password", PASSWORD)]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "the password is unchanged");
}

// ---------------------------------------------------------------------------------------------
// Entry points: store × strategy.
// ---------------------------------------------------------------------------------------------

/// `#[tokio::test]` entries of one store and strategy; `[ignore = "needs …"]` after the strategy
/// when they need a service.
macro_rules! entries {
    ($store:ident $tokens:ident: $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::super::$name(super::super::Store::$store, super::super::Tokens::$tokens).await;
            }
        )*
    };
    ($store:ident $tokens:ident [$ignore:meta]: $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[$ignore]
            async fn $name() {
                super::super::$name(super::super::Store::$store, super::super::Tokens::$tokens).await;
            }
        )*
    };
}

macro_rules! revocable {
    ($store:ident $tokens:ident $([$ignore:meta])?) => {
        entries! { $store $tokens $([$ignore])?:
            logins_at_once_get_tokens_of_their_own,
            a_logout_ends_exactly_its_session,
            every_change_ends_every_earlier_session_at_once,
            logins_racing_a_password_change_keep_no_session,
            a_reset_token_dies_when_the_email_changes,
        }
    };
}

mod memory {
    mod jwt_revocable {
        revocable!(Memory JwtRevocable);
        entries!(Memory JwtRevocable: fastapi_users_tokens_live_until_the_first_change);
    }
}

mod sqlite {
    mod jwt {
        entries!(Sqlite Jwt: logins_at_once_get_tokens_of_their_own);
    }
    mod jwt_revocable {
        revocable!(Sqlite JwtRevocable);
        entries!(Sqlite JwtRevocable: fastapi_users_tokens_live_until_the_first_change);
    }
    mod jwt_redis {
        revocable!(Sqlite JwtRedis [ignore = "needs REDIS_URL"]);
        entries!(Sqlite JwtRedis [ignore = "needs REDIS_URL"]: fastapi_users_tokens_live_until_the_first_change);
    }
    mod database {
        revocable!(Sqlite Database);
    }
    mod redis {
        revocable!(Sqlite Redis [ignore = "needs REDIS_URL"]);
    }
}

mod postgres {
    mod jwt_revocable {
        revocable!(Postgres JwtRevocable [ignore = "needs DATABASE_URL"]);
        entries!(Postgres JwtRevocable [ignore = "needs DATABASE_URL"]: fastapi_users_tokens_live_until_the_first_change);
    }
    mod jwt_redis {
        revocable!(Postgres JwtRedis [ignore = "needs DATABASE_URL and REDIS_URL"]);
    }
    mod database {
        revocable!(Postgres Database [ignore = "needs DATABASE_URL"]);
    }
    mod redis {
        revocable!(Postgres Redis [ignore = "needs DATABASE_URL and REDIS_URL"]);
    }
}
