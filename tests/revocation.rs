//! JWT revocation (which FastAPI Users and fastapi-login lack), over HTTP on each store that keeps
//! it: a logout kills its token, a password change or reset kills every token issued before it,
//! and two instances sharing a database see each other's revocations on their next request.
//! The PostgreSQL runs need `DATABASE_URL=postgres://…`: they are `#[ignore = "needs
//! DATABASE_URL"]`, run with `-- --include-ignored`, and fail naming the variable without it.

mod support;
use support::users_db;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use login_users::{
    MemoryRevocations, MemoryStore, RevocationStore, SqliteStore, User, UserHooks, UserStore, Users,
};
use serde_json::json;
use support::{Req, TempDir, Via};
use users_db::PgSchema;

const SECRET: &str = "revocation-tests-secret-0123456789abcdef";

/// A database both instances of a test share, dropped at the end.
enum Db {
    Memory(Arc<MemoryStore>, Arc<MemoryRevocations>),
    Sqlite(TempDir),
    Postgres(PgSchema),
}

impl Db {
    fn memory() -> Self {
        Db::Memory(Arc::default(), Arc::default())
    }

    fn sqlite() -> Self {
        Db::Sqlite(TempDir::new())
    }

    /// A fresh schema on `DATABASE_URL` (panics, naming it, without one).
    async fn postgres() -> Self {
        Db::Postgres(PgSchema::create(&support::postgres_url()).await)
    }

    /// One instance's stores on this database.
    async fn stores(&self) -> (Arc<dyn UserStore>, Arc<dyn RevocationStore>) {
        match self {
            Db::Memory(users, revocations) => (users.clone(), revocations.clone()),
            Db::Sqlite(dir) => {
                let store = Arc::new(SqliteStore::connect(&dir.db_url()).await.unwrap());
                (store.clone(), store)
            }
            Db::Postgres(schema) => {
                let store = Arc::new(schema.store().await);
                (store.clone(), store)
            }
        }
    }
}

/// Reset tokens the instance "mailed".
#[derive(Clone, Default)]
struct Mailbox(Arc<Mutex<Vec<String>>>);

impl UserHooks for Mailbox {
    async fn on_after_forgot_password(&self, _user: &User, token: &str) {
        self.0.lock().unwrap().push(token.to_owned());
    }
}

/// One `users` instance with revocation on, served on its own socket.
struct Instance {
    http: Via,
    mail: Mailbox,
}

impl Instance {
    async fn on(db: &Db) -> Self {
        let (store, revocations) = db.stores().await;
        let mail = Mailbox::default();
        let users = Users::builder(store)
            .revocation(revocations)
            .hooks(mail.clone())
            .secret(SECRET)
            .build()
            .unwrap();
        Self {
            http: Via::http(users_example::app(users)).await,
            mail,
        }
    }

    async fn register(&self, email: &str, password: &str) {
        let res = self
            .http
            .send(Req::post("/auth/register").json(&json!({"email": email, "password": password})))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let res = self
            .http
            .send(Req::post("/auth/jwt/login").form(&[("username", email), ("password", password)]))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn me(&self, token: &str) -> StatusCode {
        self.http.send(Req::get("/users/me").bearer(token)).await.status
    }
}

async fn logout_kills_that_token_only(db: Db) {
    let (a, b) = (Instance::on(&db).await, Instance::on(&db).await);
    a.register("ann@example.com", "ann-password").await;
    let first = a.login("ann@example.com", "ann-password").await;
    let second = b.login("ann@example.com", "ann-password").await;
    assert_eq!(
        b.me(&first).await,
        StatusCode::OK,
        "a token of one instance works on the other"
    );

    let res = a.http.send(Req::post("/auth/jwt/logout").bearer(&first)).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(a.me(&first).await, StatusCode::UNAUTHORIZED, "logged out here");
    assert_eq!(
        b.me(&first).await,
        StatusCode::UNAUTHORIZED,
        "refused by the other instance at once"
    );
    assert_eq!(
        a.me(&second).await,
        StatusCode::OK,
        "another token of the user lives on"
    );
    let again = b.http.send(Req::post("/auth/jwt/logout").bearer(&first)).await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "a dead token cannot log out twice"
    );

    // The cookie backend revokes its cookie's token too.
    let cookie = a
        .http
        .send(
            Req::post("/auth/cookie/login")
                .form(&[("username", "ann@example.com"), ("password", "ann-password")]),
        )
        .await;
    let set_cookie = cookie.header("set-cookie").unwrap().to_owned();
    let jwt = set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("fastapiusersauth=")
        .to_owned();
    let by_cookie = || Req::get("/users/me").cookie("fastapiusersauth", &jwt);
    assert_eq!(b.http.send(by_cookie()).await.status, StatusCode::OK);
    let out = b
        .http
        .send(Req::post("/auth/cookie/logout").cookie("fastapiusersauth", &jwt))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(a.http.send(by_cookie()).await.status, StatusCode::UNAUTHORIZED);
}

async fn password_change_kills_older_tokens(db: Db) {
    let (a, b) = (Instance::on(&db).await, Instance::on(&db).await);
    a.register("bob@example.com", "bob-password").await;
    let old_a = a.login("bob@example.com", "bob-password").await;
    let old_b = b.login("bob@example.com", "bob-password").await;
    let res = b
        .http
        .send(
            Req::patch("/users/me")
                .bearer(&old_b)
                .json(&json!({"password": "bob-password-2"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for (instance, name) in [(&a, "a"), (&b, "b")] {
        assert_eq!(
            instance.me(&old_a).await,
            StatusCode::UNAUTHORIZED,
            "old token on {name}"
        );
        assert_eq!(
            instance.me(&old_b).await,
            StatusCode::UNAUTHORIZED,
            "old token on {name}"
        );
    }
    let new = a.login("bob@example.com", "bob-password-2").await;
    assert_eq!(
        b.me(&new).await,
        StatusCode::OK,
        "a token issued after the change works"
    );

    // A reset does the same.
    let forgot = a
        .http
        .send(Req::post("/auth/forgot-password").json(&json!({"email": "bob@example.com"})))
        .await;
    assert_eq!(forgot.status, StatusCode::ACCEPTED);
    let reset_token = a.mail.0.lock().unwrap().pop().expect("a reset token was mailed");
    let reset = b
        .http
        .send(
            Req::post("/auth/reset-password")
                .json(&json!({"token": reset_token, "password": "bob-password-3"})),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text());
    assert_eq!(
        a.me(&new).await,
        StatusCode::UNAUTHORIZED,
        "tokens from before the reset die"
    );
    let newest = b.login("bob@example.com", "bob-password-3").await;
    assert_eq!(a.me(&newest).await, StatusCode::OK);
}

#[tokio::test]
async fn memory_logout_kills_that_token_only() {
    logout_kills_that_token_only(Db::memory()).await;
}

#[tokio::test]
async fn memory_password_change_kills_older_tokens() {
    password_change_kills_older_tokens(Db::memory()).await;
}

#[tokio::test]
async fn sqlite_logout_kills_that_token_only() {
    logout_kills_that_token_only(Db::sqlite()).await;
}

#[tokio::test]
async fn sqlite_password_change_kills_older_tokens() {
    password_change_kills_older_tokens(Db::sqlite()).await;
}

#[tokio::test]
#[ignore = "needs DATABASE_URL"]
async fn postgres_logout_kills_that_token_only() {
    logout_kills_that_token_only(Db::postgres().await).await;
}

#[tokio::test]
#[ignore = "needs DATABASE_URL"]
async fn postgres_password_change_kills_older_tokens() {
    password_change_kills_older_tokens(Db::postgres().await).await;
}

#[tokio::test]
async fn a_fastapi_users_token_can_be_logged_out() {
    // FastAPI Users' own token for its admin (tokens.json), served from a copy of its database.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fastapi_users");
    let tokens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("tokens.json")).unwrap()).unwrap();
    let db = Db::sqlite();
    let Db::Sqlite(dir) = &db else { unreachable!() };
    std::fs::copy(fixtures.join("users.sqlite"), dir.0.join("users.db")).unwrap();
    let (store, revocations) = db.stores().await;
    let secret = tokens["secret"].as_str().unwrap();
    let users = Users::builder(store)
        .revocation(revocations)
        .secret(secret)
        .build()
        .unwrap();
    let http = Via::http(users_example::app(users)).await;
    let token = tokens["users"]["admin"]["tokens"]["access"].as_str().unwrap();
    assert_eq!(
        http.send(Req::get("/users/me").bearer(token)).await.status,
        StatusCode::OK
    );
    let out = http.send(Req::post("/auth/jwt/logout").bearer(token)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        http.send(Req::get("/users/me").bearer(token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}
