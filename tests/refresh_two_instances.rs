//! Refresh tokens across two `users` servers — separate processes of the built example with
//! `REFRESH_TOKENS=on` — on one PostgreSQL, as behind a load balancer: families kept in the
//! database (`pg::…`, no `REDIS_URL`) and in Redis (`redis::…`). A refresh token issued by one
//! is rotated by the other, a reuse seen by one ends the family on both, a logout on one ends it
//! for the other, and ten refreshes of one token split between the two have one winner. Needs
//! `DATABASE_URL=postgres://…` (and `REDIS_URL` for the Redis half): the tests are
//! `#[ignore = "needs …"]`, run with `-- --include-ignored`, and fail naming the missing variable.

mod support;
use support::{binary, users_db};

use std::process::{Command, Stdio};

use axum::http::StatusCode;
use binary::{Running, users_binary};
use serde_json::{Value, json};
use support::{Req, Res, TempDir, Via};
use users_db::PgSchema;
use uuid::Uuid;

const SECRET: &str = "refresh-two-instances-secret-0123456789";
const PASSWORD: &str = "ann-password";

/// One server process on `database_url` (a schema of its own), with refresh tokens on, their
/// families in Redis if `redis` is given.
fn server(dir: &TempDir, name: &str, database_url: &str, redis: Option<&str>) -> Running {
    let mut cmd = Command::new(users_binary());
    cmd.current_dir(&dir.0)
        .env("DATABASE_URL", database_url)
        .env("SECRET", SECRET)
        .env("REFRESH_TOKENS", "on")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("BEARER_STRATEGY")
        .env_remove("COOKIE_STRATEGY")
        .env_remove("JWT_REVOCATION")
        .env_remove("REFRESH_TOKEN_LIFETIME")
        .stdin(Stdio::null());
    match redis {
        Some(redis) => cmd.env("REDIS_URL", redis),
        None => cmd.env_remove("REDIS_URL"),
    };
    Running::spawn(cmd, dir.0.join(format!("{name}.err")))
}

/// Both servers on one fresh schema (and Redis, for `redis`).
async fn pair(redis: bool) -> (PgSchema, TempDir, Running, Running) {
    let url = support::postgres_url();
    let redis = redis.then(|| support::needs("REDIS_URL"));
    let schema = PgSchema::create(&url).await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let database_url = format!("{url}{sep}options[search_path]={}", schema.name());
    let dir = TempDir::new();
    let a = server(&dir, "a", &database_url, redis.as_deref());
    let b = server(&dir, "b", &database_url, redis.as_deref());
    (schema, dir, a, b)
}

async fn login(http: &Via, email: &str) -> Value {
    let res = http
        .send(Req::post("/auth/jwt/login").form(&[("username", email), ("password", PASSWORD)]))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()
}

async fn refresh(http: &Via, token: &Value) -> Res {
    let token = token.as_str().expect("a refresh token");
    http.send(
        Req::post("/auth/jwt/refresh").form(&[("grant_type", "refresh_token"), ("refresh_token", token)]),
    )
    .await
}

async fn me(http: &Via, token: &Value) -> StatusCode {
    http.send(Req::get("/users/me").bearer(token.as_str().unwrap()))
        .await
        .status
}

fn assert_invalid_grant(res: &Res, context: &str) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{context}: {}", res.text());
    assert_eq!(res.json(), json!({ "error": "invalid_grant" }), "{context}");
}

async fn refresh_across_instances(redis: bool) {
    let (_schema, _dir, a, b) = pair(redis).await;
    let (a, b) = (a.via(), b.via());
    let email = format!("ann-{}@example.com", Uuid::new_v4().simple());
    let res = a
        .send(Req::post("/auth/register").json(&json!({ "email": email, "password": PASSWORD })))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());

    // Issued by a, rotated by b, the successor rotated by a.
    let login_a = login(&a, &email).await;
    let res = refresh(&b, &login_a["refresh_token"]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let on_b = res.json();
    assert_eq!(me(&a, &on_b["access_token"]).await, StatusCode::OK);
    let res = refresh(&a, &on_b["refresh_token"]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let on_a = res.json();

    // The spent token replayed on a: the family ends on both servers.
    assert_invalid_grant(&refresh(&a, &login_a["refresh_token"]).await, "replay on a");
    assert_invalid_grant(
        &refresh(&b, &on_a["refresh_token"]).await,
        "the current token, on b",
    );
    for (server, name) in [(&a, "a"), (&b, "b")] {
        for access in [
            &login_a["access_token"],
            &on_b["access_token"],
            &on_a["access_token"],
        ] {
            assert_eq!(
                me(server, access).await,
                StatusCode::UNAUTHORIZED,
                "an access token of the ended family, on {name}"
            );
        }
    }

    // A logout on b ends a's family for a.
    let login_b = login(&a, &email).await;
    let res = b
        .send(Req::post("/auth/jwt/logout").bearer(login_b["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    assert_invalid_grant(&refresh(&a, &login_b["refresh_token"]).await, "logged out on b");

    // Ten refreshes of one token, five on each server at once: one winner.
    let race = login(&b, &email).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let via = if i % 2 == 0 { a.clone_via() } else { b.clone_via() };
            let token = race["refresh_token"].clone();
            tokio::spawn(async move { refresh(&via, &token).await.status })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(ok, 1, "exactly one winner across the two servers");
}

/// A `Via` of the same server with a client of its own (a connection of its own per task).
trait CloneVia {
    fn clone_via(&self) -> Via;
}

impl CloneVia for Via {
    fn clone_via(&self) -> Via {
        let Via::Http { base, .. } = self else {
            unreachable!("the servers are processes")
        };
        Via::Http {
            base: base.clone(),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }
}

/// Families in the PostgreSQL database both servers share.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs DATABASE_URL"]
async fn pg_refresh_reuse_and_logout_across_two_instances() {
    refresh_across_instances(false).await;
}

/// Families (and JWT revocations) in the Redis both servers share.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs DATABASE_URL and REDIS_URL"]
async fn redis_refresh_reuse_and_logout_across_two_instances() {
    refresh_across_instances(true).await;
}
