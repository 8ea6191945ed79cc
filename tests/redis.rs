//! Redis over HTTP, on two instances sharing a SQLite user store and one Redis: FastAPI Users'
//! `RedisStrategy` (opaque tokens) and Redis-kept JWT revocation. They need `REDIS_URL` (e.g.
//! `redis://127.0.0.1:6379`) and are `#[ignore = "needs REDIS_URL"]`: run them with
//! `-- --include-ignored` (without the variable they fail, naming it). Every test registers users with
//! fresh random emails and only touches its own keys: the database is never flushed.

mod support;

use support::TempDir;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use login_users::{
    RedisStore, RedisStrategy, SqliteStore, TokenStrategy, User, UserHooks, UserStore, Users, token_id,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use uuid::Uuid;

const SECRET: &str = "redis-tests-secret-0123456789abcdef0123";

/// A fresh email, so tests never meet each other's users (or keys) in the shared Redis.
fn email(name: &str) -> String {
    format!("{name}-{}@example.com", Uuid::new_v4().simple())
}

/// A SQLite database in a temporary directory, removed at the end.
struct Db(TempDir);

impl Db {
    fn new() -> Self {
        Self(TempDir::new())
    }

    async fn store(&self) -> Arc<dyn UserStore> {
        Arc::new(SqliteStore::connect(&self.0.db_url()).await.unwrap())
    }
}

/// Reset tokens an instance "mailed".
#[derive(Clone, Default)]
struct Mailbox(Arc<Mutex<Vec<String>>>);

impl UserHooks for Mailbox {
    async fn on_after_forgot_password(&self, _user: &User, token: &str) {
        self.0.lock().unwrap().push(token.to_owned());
    }
}

/// A response, fully read.
struct Res {
    status: StatusCode,
    body: String,
    set_cookie: Option<String>,
}

impl Res {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One instance of the example app on its own loopback socket, and a client for it.
struct Instance {
    base: String,
    client: reqwest::Client,
    mail: Mailbox,
}

/// How an instance keeps its tokens.
enum Tokens {
    /// `RedisStrategy` on both backends.
    Redis,
    /// JWTs on both backends, revoked through a `RedisStore`.
    RevocableJwt,
}

impl Instance {
    async fn on(db: &Db, url: &str, tokens: Tokens) -> Self {
        let redis = RedisStore::connect(url).await.unwrap();
        let mail = Mailbox::default();
        let builder = Users::builder(db.store().await)
            .hooks(mail.clone())
            .secret(SECRET);
        let builder = match tokens {
            Tokens::Redis => {
                let strategy: Arc<dyn TokenStrategy> = Arc::new(RedisStrategy::new(redis));
                builder
                    .bearer_strategy(strategy.clone())
                    .cookie_strategy(strategy)
            }
            Tokens::RevocableJwt => builder.revocation(Arc::new(redis)),
        };
        Self::serve(users_example::app(builder.build().unwrap()), mail).await
    }

    async fn serve(app: Router, mail: Mailbox) -> Self {
        let addr = support::serve(app).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        Self {
            base: format!("http://{addr}"),
            client,
            mail,
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
            body: res.text().await.unwrap(),
            set_cookie,
        }
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }

    async fn register(&self, email: &str, password: &str) -> String {
        let res = self
            .send(
                self.post("/auth/register")
                    .json(&json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.json()["id"].as_str().unwrap().to_owned()
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let res = self
            .send(
                self.post("/auth/jwt/login")
                    .form(&[("username", email), ("password", password)]),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.json()["token_type"], "bearer");
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// Logs in on the cookie backend; the cookie's token.
    async fn cookie_login(&self, email: &str, password: &str) -> String {
        let res = self
            .send(
                self.post("/auth/cookie/login")
                    .form(&[("username", email), ("password", password)]),
            )
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
        let set_cookie = res.set_cookie.expect("a cookie is set");
        set_cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("fastapiusersauth=")
            .to_owned()
    }

    async fn me(&self, token: &str) -> Res {
        self.send(
            self.client
                .get(format!("{}/users/me", self.base))
                .bearer_auth(token),
        )
        .await
    }

    async fn me_status(&self, token: &str) -> StatusCode {
        self.me(token).await.status
    }

    async fn me_by_cookie(&self, token: &str) -> StatusCode {
        let req = self
            .client
            .get(format!("{}/users/me", self.base))
            .header("cookie", format!("fastapiusersauth={token}"));
        self.send(req).await.status
    }

    async fn logout(&self, token: &str) -> StatusCode {
        self.send(self.post("/auth/jwt/logout").bearer_auth(token))
            .await
            .status
    }

    async fn change_password(&self, token: &str, password: &str) {
        let req = self
            .client
            .patch(format!("{}/users/me", self.base))
            .bearer_auth(token)
            .json(&json!({"password": password}));
        let res = self.send(req).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }

    async fn reset_password(&self, other: &Instance, email: &str, password: &str) {
        let forgot = self
            .send(self.post("/auth/forgot-password").json(&json!({"email": email})))
            .await;
        assert_eq!(forgot.status, StatusCode::ACCEPTED, "{}", forgot.body);
        let token = self
            .mail
            .0
            .lock()
            .unwrap()
            .pop()
            .expect("a reset token was mailed");
        let reset = other
            .send(
                other
                    .post("/auth/reset-password")
                    .json(&json!({"token": token, "password": password})),
            )
            .await;
        assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    }
}

/// A bare RESP client, to look at the keys the app wrote (the tests do not depend on `redis`).
struct Raw(BufReader<TcpStream>);

/// A RESP reply.
#[derive(Debug, PartialEq)]
enum Reply {
    Nil,
    Int(i64),
    Text(String),
    Many(Vec<Reply>),
}

impl Reply {
    fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("not an integer: {other:?}"),
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Reply::Nil => None,
            Reply::Text(s) => Some(s),
            other => panic!("not a string: {other:?}"),
        }
    }
}

impl Raw {
    /// Connects to `redis://[[user]:password@]host[:port][/db]`.
    async fn connect(url: &str) -> Self {
        let rest = url
            .strip_prefix("redis://")
            .expect("the raw client speaks redis:// only");
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let (host, db) = rest.split_once('/').unwrap_or((rest, ""));
        let host = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:6379")
        };
        let mut raw = Raw(BufReader::new(TcpStream::connect(host).await.unwrap()));
        if let Some(auth) = auth {
            match auth.split_once(':') {
                Some(("", password)) => raw.cmd(&["AUTH", password]).await,
                Some((user, password)) => raw.cmd(&["AUTH", user, password]).await,
                None => raw.cmd(&["AUTH", auth]).await,
            };
        }
        if !db.is_empty() {
            raw.cmd(&["SELECT", db]).await;
        }
        raw
    }

    async fn cmd(&mut self, args: &[&str]) -> Reply {
        let mut out = format!("*{}\r\n", args.len());
        for arg in args {
            out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.0.get_mut().write_all(out.as_bytes()).await.unwrap();
        self.reply().await
    }

    async fn reply(&mut self) -> Reply {
        let mut line = String::new();
        self.0.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Reply::Text(rest.to_owned()),
            "-" => panic!("Redis error: {rest}"),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" if rest == "-1" => Reply::Nil,
            "$" => {
                let mut buf = vec![0; rest.parse::<usize>().unwrap() + 2];
                self.0.read_exact(&mut buf).await.unwrap();
                buf.truncate(buf.len() - 2);
                Reply::Text(String::from_utf8(buf).unwrap())
            }
            "*" if rest == "-1" => Reply::Nil,
            "*" => {
                let mut items = Vec::new();
                for _ in 0..rest.parse::<usize>().unwrap() {
                    items.push(Box::pin(self.reply()).await);
                }
                Reply::Many(items)
            }
            _ => panic!("unexpected reply {line:?}"),
        }
    }

    async fn ttl(&mut self, key: &str) -> i64 {
        self.cmd(&["TTL", key]).await.int()
    }

    async fn exists(&mut self, key: &str) -> bool {
        self.cmd(&["EXISTS", key]).await.int() == 1
    }
}

fn is_base64url(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[tokio::test]
#[ignore = "needs REDIS_URL"]
async fn redis_tokens_are_shared_by_two_instances() {
    let url = support::needs("REDIS_URL");
    let db = Db::new();
    let (a, b) = (
        Instance::on(&db, &url, Tokens::Redis).await,
        Instance::on(&db, &url, Tokens::Redis).await,
    );
    let mut raw = Raw::connect(&url).await;
    let ann = email("ann");
    let id = a.register(&ann, "ann-password").await;

    // FastAPI Users' token: `secrets.token_urlsafe()`, the user id under `fastapi_users_token:`.
    let first = a.login(&ann, "ann-password").await;
    assert_eq!(first.len(), 43, "{first}");
    assert!(is_base64url(&first), "{first}");
    let key = format!("fastapi_users_token:{first}");
    assert_eq!(raw.cmd(&["GET", &key]).await.text(), Some(id.as_str()));
    let ttl = raw.ttl(&key).await;
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");
    let index = format!("fastapi_users_user_tokens:{id}");
    assert_eq!(
        raw.cmd(&["ZRANGE", &index, "0", "-1"]).await,
        Reply::Many(vec![Reply::Text(key.clone())]),
        "the user's index lists the token"
    );
    let ttl = raw.ttl(&index).await;
    assert!((3590..=3600).contains(&ttl), "index TTL {ttl}");

    for (instance, name) in [(&a, "a"), (&b, "b")] {
        let me = instance.me(&first).await;
        assert_eq!(me.status, StatusCode::OK, "{name}: {}", me.body);
        assert_eq!(me.json()["id"], id.as_str());
        assert_eq!(me.json()["email"], ann.as_str());
    }

    // Logout deletes the key; both instances refuse the token at once.
    let second = b.login(&ann, "ann-password").await;
    assert_ne!(first, second);
    assert_eq!(b.logout(&first).await, StatusCode::NO_CONTENT);
    assert!(!raw.exists(&key).await, "logout deletes the key");
    assert_eq!(a.me_status(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(b.me_status(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(a.logout(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.me_status(&second).await,
        StatusCode::OK,
        "another token lives on"
    );

    // The cookie backend keeps Redis tokens too.
    let cookie = a.cookie_login(&ann, "ann-password").await;
    assert_eq!(cookie.len(), 43, "{cookie}");
    assert_eq!(b.me_by_cookie(&cookie).await, StatusCode::OK);

    // A password change kills every Redis token of the user, bearer and cookie.
    a.change_password(&second, "ann-password-2").await;
    for (instance, name) in [(&a, "a"), (&b, "b")] {
        assert_eq!(
            instance.me_status(&second).await,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        assert_eq!(
            instance.me_by_cookie(&cookie).await,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
    for token in [&second, &cookie] {
        assert!(!raw.exists(&format!("fastapi_users_token:{token}")).await);
    }
    let third = b.login(&ann, "ann-password-2").await;
    assert_eq!(
        a.me_status(&third).await,
        StatusCode::OK,
        "a token after the change works"
    );

    // A reset does the same.
    a.reset_password(&b, &ann, "ann-password-3").await;
    assert_eq!(
        a.me_status(&third).await,
        StatusCode::UNAUTHORIZED,
        "killed by the reset"
    );
    let fourth = a.login(&ann, "ann-password-3").await;
    assert_eq!(b.me_status(&fourth).await, StatusCode::OK);

    // Another user's tokens are not touched.
    let bob = email("bob");
    b.register(&bob, "bob-password").await;
    let bobs = b.login(&bob, "bob-password").await;
    a.change_password(&fourth, "ann-password-4").await;
    assert_eq!(a.me_status(&bobs).await, StatusCode::OK);

    // Garbage, overlong, foreign and unknown tokens are refused.
    let unknown = "A".repeat(43);
    let jwt = {
        let store = db.store().await;
        let users = Users::builder(store.clone()).secret(SECRET).build().unwrap();
        let user = store.get(Uuid::parse_str(&id).unwrap()).await.unwrap().unwrap();
        users.access_token(&user).await.unwrap()
    };
    let overlong = format!("{bobs}A");
    for token in [
        "garbage",
        unknown.as_str(),
        overlong.as_str(),
        "a+b/c=",
        "*",
        jwt.as_str(),
    ] {
        let res = a.me(token).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{token}: {}", res.body);
        assert_eq!(res.json(), json!({"detail": "Unauthorized"}), "{token}");
    }
}

#[tokio::test]
#[ignore = "needs REDIS_URL"]
async fn jwt_revocations_in_redis_are_shared_by_two_instances() {
    let url = support::needs("REDIS_URL");
    let db = Db::new();
    let (a, b) = (
        Instance::on(&db, &url, Tokens::RevocableJwt).await,
        Instance::on(&db, &url, Tokens::RevocableJwt).await,
    );
    let mut raw = Raw::connect(&url).await;
    let cid = email("cid");
    let id = a.register(&cid, "cid-password").await;
    let first = a.login(&cid, "cid-password").await;
    assert_eq!(first.split('.').count(), 3, "a JWT: {first}");
    let second = b.login(&cid, "cid-password").await;
    assert_eq!(b.me_status(&first).await, StatusCode::OK);

    // Logout on A: B refuses the token at once; the deny-list entry outlives `exp`.
    assert_eq!(a.logout(&first).await, StatusCode::NO_CONTENT);
    assert_eq!(b.me_status(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(a.me_status(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(b.logout(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.me_status(&second).await,
        StatusCode::OK,
        "another token lives on"
    );
    let revoked = format!("fastapi_users_revoked:{}", token_id(&first));
    let ttl = raw.ttl(&revoked).await;
    assert!((3590 + 600..=3600 + 600).contains(&ttl), "TTL {ttl}");

    // A password change refuses every older token on both instances.
    let third = a.login(&cid, "cid-password").await;
    b.change_password(&second, "cid-password-2").await;
    for (instance, name) in [(&a, "a"), (&b, "b")] {
        for token in [&second, &third] {
            assert_eq!(
                instance.me_status(token).await,
                StatusCode::UNAUTHORIZED,
                "{name}"
            );
        }
    }
    // The user's session generation moved on, and never expires.
    let generation = format!("fastapi_users_generation:{id}");
    let value = raw.cmd(&["GET", &generation]).await;
    assert_eq!(value.text(), Some("1"), "one change");
    assert_eq!(raw.ttl(&generation).await, -1, "no expiry");
    let fourth = b.login(&cid, "cid-password-2").await;
    for instance in [&a, &b] {
        assert_eq!(
            instance.me_status(&fourth).await,
            StatusCode::OK,
            "issued after the change"
        );
    }

    // A reset does the same.
    a.reset_password(&b, &cid, "cid-password-3").await;
    assert_eq!(b.me_status(&fourth).await, StatusCode::UNAUTHORIZED);
    let fifth = a.login(&cid, "cid-password-3").await;
    assert_eq!(b.me_status(&fifth).await, StatusCode::OK);
}

#[tokio::test]
async fn a_bad_redis_url_names_redis_url() {
    for url in ["not a url", "redis://127.0.0.1:1"] {
        let error = RedisStore::connect(url).await.unwrap_err();
        assert_eq!(error.setting(), "REDIS_URL", "{url}: {error}");
    }
}

/// A "Redis" that answers `PING` and fails every other command.
async fn failing_redis() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut conn = Raw(BufReader::new(stream));
                loop {
                    // Each command is a RESP array of bulk strings.
                    let mut line = String::new();
                    if conn.0.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let Some(count) = line.trim_end().strip_prefix('*') else {
                        return;
                    };
                    let mut args = Vec::new();
                    for _ in 0..count.parse::<usize>().unwrap() {
                        match Box::pin(conn.reply()).await {
                            Reply::Text(arg) => args.push(arg),
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    let answer: &[u8] = if args[0].eq_ignore_ascii_case("PING") {
                        b"+PONG\r\n"
                    } else {
                        b"-ERR injected failure\r\n"
                    };
                    if conn.0.get_mut().write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("redis://{addr}")
}

#[tokio::test]
async fn a_failing_redis_is_a_500_not_a_401() {
    let url = failing_redis().await;
    let db = Db::new();

    // Redis tokens: neither a login nor a request can go through.
    let instance = Instance::on(&db, &url, Tokens::Redis).await;
    let eve = email("eve");
    instance.register(&eve, "eve-password").await;
    let login = instance
        .send(
            instance
                .post("/auth/jwt/login")
                .form(&[("username", eve.as_str()), ("password", "eve-password")]),
        )
        .await;
    assert_eq!(login.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", login.body);
    let res = instance.me(&"A".repeat(43)).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", res.body);
    let res = instance.me("not-base64url!").await;
    assert_eq!(
        res.status,
        StatusCode::UNAUTHORIZED,
        "refused before asking Redis"
    );

    // Revocable JWTs: a login reads the user's session generation, and reading a token its
    // revocation status, both in Redis.
    let instance = Instance::on(&db, &url, Tokens::RevocableJwt).await;
    let login = instance
        .send(
            instance
                .post("/auth/jwt/login")
                .form(&[("username", eve.as_str()), ("password", "eve-password")]),
        )
        .await;
    assert_eq!(login.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", login.body);
    let token = {
        let store = db.store().await;
        let user = store.get_by_email(&eve).await.unwrap().unwrap();
        let users = Users::builder(store).secret(SECRET).build().unwrap();
        users.access_token(&user).await.unwrap()
    };
    let res = instance.me(&token).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", res.body);
}
