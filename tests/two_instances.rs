//! Two `users` servers — separate processes of the built example — on one PostgreSQL and one
//! Redis, as behind a load balancer: a token issued by one works on the other, and a logout or a
//! password change on one is refused by the other on its very next request. Needs
//! `DATABASE_URL=postgres://…` and `REDIS_URL`: the tests are `#[ignore = "needs DATABASE_URL and
//! REDIS_URL"]`, run with `-- --include-ignored`, and fail naming the missing variable.

mod support;
use support::{binary, users_db};

use std::process::{Command, Stdio};

use axum::http::StatusCode;
use binary::{Running, users_binary};
use serde_json::json;
use support::{Req, TempDir, Via};
use users_db::PgSchema;
use uuid::Uuid;

const SECRET: &str = "two-instances-secret-0123456789abcdefgh";

/// One server process on `database_url` (a schema of its own) and Redis, with these strategies.
fn server(
    dir: &TempDir,
    name: &str,
    database_url: &str,
    redis: &str,
    strategies: &[(&str, &str)],
) -> Running {
    let mut cmd = Command::new(users_binary());
    cmd.current_dir(&dir.0)
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis)
        .env("SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("BEARER_STRATEGY")
        .env_remove("COOKIE_STRATEGY")
        .env_remove("JWT_REVOCATION")
        .stdin(Stdio::null());
    for (var, value) in strategies {
        cmd.env(var, value);
    }
    Running::spawn(cmd, dir.0.join(format!("{name}.err")))
}

async fn register(http: &Via, email: &str, password: &str) {
    let res = http
        .send(Req::post("/auth/register").json(&json!({"email": email, "password": password})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
}

async fn login(http: &Via, email: &str, password: &str) -> String {
    let res = http
        .send(Req::post("/auth/jwt/login").form(&[("username", email), ("password", password)]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["access_token"].as_str().unwrap().to_owned()
}

async fn me(http: &Via, token: &str) -> StatusCode {
    http.send(Req::get("/users/me").bearer(token)).await.status
}

/// Both servers, on one fresh schema and one Redis, with the same strategies.
async fn pair(strategies: &[(&str, &str)]) -> (PgSchema, TempDir, Running, Running) {
    let (url, redis) = (support::postgres_url(), support::needs("REDIS_URL"));
    let schema = PgSchema::create(&url).await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let database_url = format!("{url}{sep}options[search_path]={}", schema.name());
    let dir = TempDir::new();
    let a = server(&dir, "a", &database_url, &redis, strategies);
    let b = server(&dir, "b", &database_url, &redis, strategies);
    (schema, dir, a, b)
}

/// JWTs, revocations in Redis (the example keeps them there when `REDIS_URL` is set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DATABASE_URL and REDIS_URL"]
async fn jwt_logout_and_password_change_on_one_server_are_refused_by_the_other() {
    let (_schema, _dir, a, b) = pair(&[]).await;
    let (a, b) = (a.via(), b.via());
    let email = format!("ann-{}@example.com", Uuid::new_v4().simple());
    register(&a, &email, "ann-password").await;
    // Two logins at once, one on each server: two sessions.
    let (first, phone) = tokio::join!(
        login(&a, &email, "ann-password"),
        login(&b, &email, "ann-password")
    );
    assert_ne!(first, phone, "every login its own token");
    assert_eq!(me(&b, &first).await, StatusCode::OK, "issued by a, accepted by b");
    let out = a.send(Req::post("/auth/jwt/logout").bearer(&first)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        me(&b, &first).await,
        StatusCode::UNAUTHORIZED,
        "logged out on a, refused by b at once"
    );
    assert_eq!(me(&a, &phone).await, StatusCode::OK, "the other session lives on");
    assert_eq!(me(&b, &phone).await, StatusCode::OK);

    // A password change on b ends, on both servers and at once, every session from before it,
    // including one a made a moment before (no pause: nothing here is counted in seconds).
    let second = login(&b, &email, "ann-password").await;
    let just_before = login(&a, &email, "ann-password").await;
    assert_eq!(me(&a, &second).await, StatusCode::OK);
    let change = b
        .send(
            Req::patch("/users/me")
                .bearer(&second)
                .json(&json!({"password": "ann-password-2"})),
        )
        .await;
    assert_eq!(change.status, StatusCode::OK, "{}", change.text());
    for token in [&second, &just_before, &phone] {
        for (server, name) in [(&a, "a"), (&b, "b")] {
            assert_eq!(
                me(server, token).await,
                StatusCode::UNAUTHORIZED,
                "password changed on b, refused by {name}"
            );
        }
    }
    let third = login(&a, &email, "ann-password-2").await;
    assert_eq!(
        me(&b, &third).await,
        StatusCode::OK,
        "a login after the change works everywhere"
    );
    assert_eq!(me(&a, &third).await, StatusCode::OK);
}

/// Opaque tokens: the bearer backend on the database strategy, the cookie backend on Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DATABASE_URL and REDIS_URL"]
async fn database_and_redis_tokens_are_shared_and_logged_out_everywhere() {
    let strategies = [("BEARER_STRATEGY", "database"), ("COOKIE_STRATEGY", "redis")];
    let (_schema, _dir, a, b) = pair(&strategies).await;
    let (a, b) = (a.via(), b.via());
    let email = format!("bob-{}@example.com", Uuid::new_v4().simple());
    register(&b, &email, "bob-password").await;

    let bearer = login(&a, &email, "bob-password").await;
    assert_eq!(bearer.len(), 43, "an opaque database token: {bearer}");
    assert_eq!(me(&b, &bearer).await, StatusCode::OK);
    let out = b.send(Req::post("/auth/jwt/logout").bearer(&bearer)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(me(&a, &bearer).await, StatusCode::UNAUTHORIZED);

    let res = a
        .send(
            Req::post("/auth/cookie/login")
                .form(&[("username", email.as_str()), ("password", "bob-password")]),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let set_cookie = res.header("set-cookie").unwrap().to_owned();
    let token = set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("fastapiusersauth=")
        .to_owned();
    assert_eq!(token.len(), 43, "an opaque Redis token: {set_cookie}");
    let by_cookie = || Req::get("/users/me").cookie("fastapiusersauth", &token);
    assert_eq!(b.send(by_cookie()).await.status, StatusCode::OK);
    let out = b
        .send(Req::post("/auth/cookie/logout").cookie("fastapiusersauth", &token))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(a.send(by_cookie()).await.status, StatusCode::UNAUTHORIZED);
    // A password change on b ends a's database and Redis sessions made a moment before.
    let bearer = login(&a, &email, "bob-password").await;
    let res = a
        .send(
            Req::post("/auth/cookie/login")
                .form(&[("username", email.as_str()), ("password", "bob-password")]),
        )
        .await;
    let cookie = res.header("set-cookie").unwrap().to_owned();
    let cookie = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("fastapiusersauth=")
        .to_owned();
    let by_cookie = || Req::get("/users/me").cookie("fastapiusersauth", &cookie);
    assert_eq!(b.send(by_cookie()).await.status, StatusCode::OK);
    let changer = login(&b, &email, "bob-password").await;
    let change = b
        .send(
            Req::patch("/users/me")
                .bearer(&changer)
                .json(&json!({"password": "bob-password-2"})),
        )
        .await;
    assert_eq!(change.status, StatusCode::OK, "{}", change.text());
    for server in [&a, &b] {
        assert_eq!(
            me(server, &bearer).await,
            StatusCode::UNAUTHORIZED,
            "database token"
        );
        assert_eq!(
            server.send(by_cookie()).await.status,
            StatusCode::UNAUTHORIZED,
            "Redis token"
        );
    }
    let after = login(&a, &email, "bob-password-2").await;
    assert_eq!(me(&b, &after).await, StatusCode::OK);
}
