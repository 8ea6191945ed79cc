//! FastAPI Users' database token strategy over HTTP, on SQLite and PostgreSQL, with two instances
//! sharing one database: opaque tokens in the `accesstoken` table, logout deletes the row, expired
//! rows, password changes and deleted users kill tokens, JWTs and garbage are refused.
//! The PostgreSQL runs need `DATABASE_URL=postgres://…`: they are `#[ignore = "needs
//! DATABASE_URL"]`, run with `-- --include-ignored`, and fail naming the variable without it.

mod support;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use login_users::{
    AccessTokenStore, CreateUser, DatabaseStrategy, PostgresStore, SqliteStore, TOKEN_LIFETIME, User,
    UserStore, Users,
};
use serde_json::{Value, json};
use support::TempDir;
use support::users_db::PgSchema;

const SECRET: &str = "strategies-tests-secret-0123456789abcdef";

/// A database both instances of a test share, removed at the end.
enum Db {
    Sqlite(TempDir),
    Postgres(PgSchema),
}

/// One instance's view of the database: its stores, and raw SQL for the checks.
enum Conn {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

impl Db {
    fn sqlite() -> Self {
        Db::Sqlite(TempDir::new())
    }

    /// A fresh schema on `DATABASE_URL` (panics, naming it, without one).
    async fn postgres() -> Self {
        Db::Postgres(PgSchema::create(&support::postgres_url()).await)
    }

    async fn connect(&self) -> Conn {
        match self {
            Db::Sqlite(dir) => Conn::Sqlite(Arc::new(SqliteStore::connect(&dir.db_url()).await.unwrap())),
            Db::Postgres(schema) => Conn::Postgres(Arc::new(schema.store().await)),
        }
    }
}

impl Conn {
    fn stores(&self) -> (Arc<dyn UserStore>, Arc<dyn AccessTokenStore>) {
        match self {
            Conn::Sqlite(s) => (s.clone(), s.clone()),
            Conn::Postgres(s) => (s.clone(), s.clone()),
        }
    }

    /// How many `accesstoken` rows match `WHERE {filter}` with `$1`/`?` bound to `value`.
    async fn count(&self, filter: &str, value: &str) -> i64 {
        match self {
            Conn::Sqlite(s) => {
                let sql = format!("SELECT COUNT(*) FROM accesstoken WHERE {filter} = ?");
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .fetch_one(s.pool())
                    .await
                    .unwrap()
            }
            Conn::Postgres(s) => {
                let sql = format!("SELECT COUNT(*) FROM accesstoken WHERE {filter}::text = $1");
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .fetch_one(s.pool())
                    .await
                    .unwrap()
            }
        }
    }

    async fn tokens_of(&self, user: &str) -> i64 {
        self.count("user_id", user).await
    }

    async fn rows_of_token(&self, token: &str) -> i64 {
        self.count("token", token).await
    }

    /// Moves the token's `created_at` `seconds` into the past, as FastAPI Users would have
    /// written it then.
    async fn age(&self, token: &str, seconds: u64) {
        let done = match self {
            Conn::Sqlite(s) => sqlx::query(
                "UPDATE accesstoken SET created_at = \
                 strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || ? || ' seconds') || '.000000' WHERE token = ?",
            )
            .bind(seconds.to_string())
            .bind(token)
            .execute(s.pool())
            .await
            .unwrap()
            .rows_affected(),
            Conn::Postgres(s) => sqlx::query(
                "UPDATE accesstoken SET created_at = now() - make_interval(secs => $1) WHERE token = $2",
            )
            .bind(seconds as f64)
            .bind(token)
            .execute(s.pool())
            .await
            .unwrap()
            .rows_affected(),
        };
        assert_eq!(done, 1);
    }

    /// The table's `CREATE` statements as the database keeps them.
    async fn schema(&self) -> Vec<String> {
        match self {
            Conn::Sqlite(s) => sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'accesstoken' AND sql IS NOT NULL ORDER BY type DESC",
            )
            .fetch_all(s.pool())
            .await
            .unwrap(),
            Conn::Postgres(s) => sqlx::query_scalar(
                "SELECT column_name || ' ' || data_type || ' ' || is_nullable FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'accesstoken' ORDER BY ordinal_position",
            )
            .fetch_all(s.pool())
            .await
            .unwrap(),
        }
    }
}

/// An instance's HTTP client on its own socket.
struct Http {
    base: String,
    client: reqwest::Client,
}

struct Res {
    status: StatusCode,
    set_cookie: Option<String>,
    body: String,
}

impl Res {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Http {
    async fn serve(app: Router) -> Self {
        let addr = support::serve(app).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        Self {
            base: format!("http://{addr}"),
            client,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Res {
        let res = req.send().await.unwrap();
        let status = res.status();
        let set_cookie = res
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        Res {
            status,
            set_cookie,
            body: res.text().await.unwrap(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }
}

/// One `users` instance whose bearer and cookie backends both use the database strategy.
struct Instance {
    http: Http,
    users: Users,
    conn: Conn,
}

impl Instance {
    async fn on(db: &Db) -> Self {
        let conn = db.connect().await;
        let (store, tokens) = conn.stores();
        let strategy = Arc::new(DatabaseStrategy::new(tokens).await.unwrap());
        let users = Users::builder(store)
            .bearer_strategy(strategy.clone())
            .cookie_strategy(strategy)
            .secret(SECRET)
            .build()
            .unwrap();
        Self {
            http: Http::serve(users_example::app(users.clone())).await,
            users,
            conn,
        }
    }

    async fn register(&self, email: &str, password: &str) -> String {
        let res = self
            .http
            .send(
                self.http
                    .request(reqwest::Method::POST, "/auth/register")
                    .json(&json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.json()["id"].as_str().unwrap().to_owned()
    }

    async fn login_response(&self, backend: &str, email: &str, password: &str) -> Res {
        let res = self
            .http
            .send(
                self.http
                    .request(reqwest::Method::POST, &format!("/auth/{backend}/login"))
                    .form(&[("username", email), ("password", password)]),
            )
            .await;
        assert!(
            res.status.is_success(),
            "{backend} login: {} {}",
            res.status,
            res.body
        );
        res
    }

    /// A bearer login's token.
    async fn login(&self, email: &str, password: &str) -> String {
        let res = self.login_response("jwt", email, password).await;
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// A cookie login's token (the `fastapiusersauth` value).
    async fn cookie_login(&self, email: &str, password: &str) -> String {
        let res = self.login_response("cookie", email, password).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        let set_cookie = res.set_cookie.expect("the cookie login sets a cookie");
        let pair = set_cookie.split(';').next().unwrap();
        pair.strip_prefix("fastapiusersauth=")
            .unwrap_or_else(|| panic!("not the auth cookie: {set_cookie}"))
            .to_owned()
    }

    async fn me(&self, token: &str) -> StatusCode {
        let req = self
            .http
            .request(reqwest::Method::GET, "/users/me")
            .bearer_auth(token);
        self.http.send(req).await.status
    }

    async fn me_by_cookie(&self, token: &str) -> StatusCode {
        let req = self
            .http
            .request(reqwest::Method::GET, "/users/me")
            .header("cookie", format!("fastapiusersauth={token}"));
        self.http.send(req).await.status
    }

    async fn user(&self, id: &str) -> User {
        self.users.get(id.parse().unwrap()).await.unwrap().unwrap()
    }
}

fn assert_opaque(token: &str) {
    assert_eq!(token.len(), 43, "token_urlsafe(32) is 43 characters: {token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "base64url: {token}"
    );
    assert!(!token.contains('.'), "not a JWT: {token}");
}

async fn the_table_is_fastapi_users(db: Db) {
    let a = Instance::on(&db).await;
    // A second migration (another instance starting) changes nothing.
    let _b = Instance::on(&db).await;
    let schema = a.conn.schema().await;
    match a.conn {
        Conn::Sqlite(_) => assert_eq!(
            schema,
            [
                // SQLAlchemy's `CreateTable` / `CreateIndex` for SQLite, byte for byte.
                "CREATE TABLE accesstoken (\n\tuser_id CHAR(36) NOT NULL, \n\ttoken VARCHAR(43) NOT NULL, \
                 \n\tcreated_at TIMESTAMP NOT NULL, \n\tPRIMARY KEY (token), \n\tFOREIGN KEY(user_id) \
                 REFERENCES user (id) ON DELETE cascade\n)",
                "CREATE INDEX ix_accesstoken_created_at ON accesstoken (created_at)",
            ]
        ),
        Conn::Postgres(ref s) => {
            assert_eq!(
                schema,
                [
                    "user_id uuid NO",
                    "token character varying NO",
                    "created_at timestamp with time zone NO",
                ]
            );
            let index: String = sqlx::query_scalar(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
                 AND indexname = 'ix_accesstoken_created_at'",
            )
            .fetch_one(s.pool())
            .await
            .unwrap();
            assert!(index.ends_with("USING btree (created_at)"), "{index}");
            let fk: String = sqlx::query_scalar(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'accesstoken'::regclass \
                 AND contype = 'f'",
            )
            .fetch_one(s.pool())
            .await
            .unwrap();
            assert_eq!(
                fk,
                "FOREIGN KEY (user_id) REFERENCES \"user\"(id) ON DELETE CASCADE"
            );
        }
    }

    // A row as FastAPI Users writes it is read.
    let id = a.register("fau@example.com", "fau-password").await;
    let token = "FastAPIUsersWroteThisToken_0123456789-abcde";
    let inserted = match &a.conn {
        Conn::Sqlite(s) => sqlx::query(
            "INSERT INTO accesstoken (user_id, token, created_at) \
             VALUES (?, ?, strftime('%Y-%m-%d %H:%M:%S', 'now', '-60 seconds') || '.123456')",
        )
        .bind(&id)
        .bind(token)
        .execute(s.pool())
        .await
        .unwrap()
        .rows_affected(),
        Conn::Postgres(s) => sqlx::query(
            "INSERT INTO accesstoken (user_id, token, created_at) VALUES ($1::uuid, $2, now() - interval '60 seconds')",
        )
        .bind(&id)
        .bind(token)
        .execute(s.pool())
        .await
        .unwrap()
        .rows_affected(),
    };
    assert_eq!(inserted, 1);
    assert_eq!(a.me(token).await, StatusCode::OK);
    assert_eq!(a.me_by_cookie(token).await, StatusCode::OK);
}

async fn login_and_logout_across_instances(db: Db) {
    let (a, b) = (Instance::on(&db).await, Instance::on(&db).await);
    let id = a.register("ann@example.com", "ann-password").await;

    let res = a.login_response("jwt", "ann@example.com", "ann-password").await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access_token", "token_type"], "{body}");
    assert_eq!(body["token_type"], "bearer");
    let bearer = body["access_token"].as_str().unwrap().to_owned();
    assert_opaque(&bearer);
    assert_eq!(a.conn.rows_of_token(&bearer).await, 1, "stored in accesstoken");
    assert_eq!(a.conn.tokens_of(&id).await, 1, "for the user");
    assert_eq!(a.me(&bearer).await, StatusCode::OK);
    assert_eq!(b.me(&bearer).await, StatusCode::OK, "the other instance reads it");

    let cookie = b.cookie_login("ann@example.com", "ann-password").await;
    assert_opaque(&cookie);
    assert_ne!(cookie, bearer);
    assert_eq!(a.conn.tokens_of(&id).await, 2);
    assert_eq!(a.me_by_cookie(&cookie).await, StatusCode::OK);
    assert_eq!(b.me_by_cookie(&cookie).await, StatusCode::OK);

    let out = a
        .http
        .send(
            a.http
                .request(reqwest::Method::POST, "/auth/jwt/logout")
                .bearer_auth(&bearer),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    assert_eq!(a.conn.rows_of_token(&bearer).await, 0, "logout deletes the row");
    assert_eq!(a.me(&bearer).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        b.me(&bearer).await,
        StatusCode::UNAUTHORIZED,
        "on the other instance too"
    );
    assert_eq!(
        a.me_by_cookie(&cookie).await,
        StatusCode::OK,
        "the other token lives on"
    );

    let out = b
        .http
        .send(
            b.http
                .request(reqwest::Method::POST, "/auth/cookie/logout")
                .header("cookie", format!("fastapiusersauth={cookie}")),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    assert_eq!(a.conn.tokens_of(&id).await, 0);
    assert_eq!(a.me_by_cookie(&cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(b.me_by_cookie(&cookie).await, StatusCode::UNAUTHORIZED);
}

async fn expired_rows_are_refused(db: Db) {
    let (a, b) = (Instance::on(&db).await, Instance::on(&db).await);
    a.register("eve@example.com", "eve-password").await;
    let young = a.login("eve@example.com", "eve-password").await;
    let old = b.login("eve@example.com", "eve-password").await;
    let lifetime = TOKEN_LIFETIME.as_secs();
    a.conn.age(&young, lifetime - 60).await;
    a.conn.age(&old, lifetime + 5).await;
    for instance in [&a, &b] {
        assert_eq!(instance.me(&young).await, StatusCode::OK, "within the lifetime");
        assert_eq!(
            instance.me(&old).await,
            StatusCode::UNAUTHORIZED,
            "beyond the lifetime"
        );
        assert_eq!(instance.me_by_cookie(&old).await, StatusCode::UNAUTHORIZED);
    }
}

async fn password_change_kills_every_token(db: Db) {
    let (a, b) = (Instance::on(&db).await, Instance::on(&db).await);
    let id = a.register("bob@example.com", "bob-password").await;
    let first = a.login("bob@example.com", "bob-password").await;
    let second = b.login("bob@example.com", "bob-password").await;
    let cookie = b.cookie_login("bob@example.com", "bob-password").await;
    let other_id = a.register("cat@example.com", "cat-password").await;
    let other = a.login("cat@example.com", "cat-password").await;
    let res = b
        .http
        .send(
            b.http
                .request(reqwest::Method::PATCH, "/users/me")
                .bearer_auth(&second)
                .json(&json!({"password": "bob-password-2"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(a.conn.tokens_of(&id).await, 0, "every row of the user is gone");
    for instance in [&a, &b] {
        for token in [&first, &second] {
            assert_eq!(instance.me(token).await, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(instance.me_by_cookie(&cookie).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            instance.me(&other).await,
            StatusCode::OK,
            "other users keep theirs"
        );
    }
    assert_eq!(a.conn.tokens_of(&other_id).await, 1);
    let new = a.login("bob@example.com", "bob-password-2").await;
    assert_eq!(b.me(&new).await, StatusCode::OK, "a login after the change works");
}

async fn a_deleted_users_tokens_die(db: Db) {
    let (a, b) = (Instance::on(&db).await, Instance::on(&db).await);
    let mut admin = CreateUser::new("admin@example.com", "admin-password");
    admin.is_superuser = true;
    a.users.create(admin).await.unwrap();
    let admin_token = a.login("admin@example.com", "admin-password").await;
    let id = a.register("dan@example.com", "dan-password").await;
    let dan = b.login("dan@example.com", "dan-password").await;
    let dan_cookie = a.cookie_login("dan@example.com", "dan-password").await;
    assert_eq!(a.conn.tokens_of(&id).await, 2);
    let res = b
        .http
        .send(
            b.http
                .request(reqwest::Method::DELETE, &format!("/users/{id}"))
                .bearer_auth(&admin_token),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    assert_eq!(a.conn.tokens_of(&id).await, 0, "ON DELETE cascade");
    for instance in [&a, &b] {
        assert_eq!(instance.me(&dan).await, StatusCode::UNAUTHORIZED);
        assert_eq!(instance.me_by_cookie(&dan_cookie).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(a.me(&admin_token).await, StatusCode::OK);
}

async fn jwts_and_garbage_are_refused(db: Db) {
    let a = Instance::on(&db).await;
    let id = a.register("joe@example.com", "joe-password").await;
    let user = a.user(&id).await;
    let jwt = a.users.access_token(&user).await.unwrap();
    assert_eq!(jwt.split('.').count(), 3);
    assert_eq!(
        a.me(&jwt).await,
        StatusCode::UNAUTHORIZED,
        "a JWT on a database backend"
    );
    assert_eq!(a.me_by_cookie(&jwt).await, StatusCode::UNAUTHORIZED);

    let unknown = "A".repeat(43);
    let long = "A".repeat(44);
    let huge = "x".repeat(4000);
    for garbage in [
        "garbage",
        unknown.as_str(),
        long.as_str(),
        huge.as_str(),
        "'; DROP TABLE accesstoken; --",
        "abc%00def",
        "a/b+c=",
    ] {
        let req = a
            .http
            .request(reqwest::Method::GET, "/users/me")
            .header("authorization", format!("Bearer {garbage}"));
        let res = a.http.send(req).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{garbage}: {}", res.body);
        let out = a
            .http
            .send(
                a.http
                    .request(reqwest::Method::POST, "/auth/jwt/logout")
                    .header("authorization", format!("Bearer {garbage}")),
            )
            .await;
        assert_eq!(out.status, StatusCode::UNAUTHORIZED, "logout with {garbage}");
    }
    let token = a.login("joe@example.com", "joe-password").await;
    assert_eq!(a.me(&token).await, StatusCode::OK, "the table is intact");
}

macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Db::sqlite()).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs DATABASE_URL"]
                async fn $scenario() {
                    super::$scenario(super::Db::postgres().await).await;
                }
            )*
        }
    };
}

on_both!(
    the_table_is_fastapi_users,
    login_and_logout_across_instances,
    expired_rows_are_refused,
    password_change_kills_every_token,
    a_deleted_users_tokens_die,
    jwts_and_garbage_are_refused,
);
