//! `__Host-` cookie names, the recommended production setting, over a real socket: the users
//! backend (`UsersBuilder::cookie_name`, the example's `COOKIE_NAME`) and the `login` example
//! write, read, refuse when repeated and clear the prefixed cookie; a prefixed name without
//! `Secure` is a configuration error naming `secure_cookies`.

mod support;
use support::binary;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use binary::{Running, users_binary};
use login_users::{MemoryStore, UserStore, Users};
use serde_json::json;
use support::{Req, Res, TempDir, Via};

const SECRET: &str = "host-cookie-tests-secret-0123456789abcdef";
const HOST_COOKIE: &str = "__Host-fastapiusersauth";
const PASSWORD: &str = "a-good-password";

async fn users_app(cookie: &str) -> Via {
    let store: Arc<dyn UserStore> = Arc::new(MemoryStore::default());
    let users = Users::builder(store)
        .secret(SECRET)
        .cookie_name(cookie)
        .build()
        .unwrap();
    Via::http(users_example::app(users)).await
}

/// Registers a fresh user and logs in on the cookie backend; the answer.
async fn cookie_login(http: &Via) -> Res {
    let email = format!("host-{}@example.com", uuid::Uuid::new_v4());
    let res = (http)
        .send(Req::post("/auth/register").json(&json!({"email": email, "password": PASSWORD})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    (http)
        .send(Req::post("/auth/cookie/login").form(&[("username", email.as_str()), ("password", PASSWORD)]))
        .await
}

fn cookie_value<'a>(res: &'a Res, name: &str) -> &'a str {
    let set = res.header("set-cookie").expect("a Set-Cookie header");
    let first = set.split(';').next().unwrap();
    first
        .strip_prefix(&format!("{name}="))
        .unwrap_or_else(|| panic!("{set}"))
}

#[tokio::test]
async fn the_users_backend_writes_and_reads_a_host_cookie() {
    let http = users_app(HOST_COOKIE).await;
    let res = cookie_login(&http).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    let set = res.header("set-cookie").unwrap();
    let token = cookie_value(&res, HOST_COOKIE);
    // What a browser requires of `__Host-`: Secure, Path=/, no Domain. Otherwise Starlette's bytes.
    assert_eq!(
        set,
        format!("{HOST_COOKIE}={token}; HttpOnly; Max-Age=3600; Path=/; SameSite=lax; Secure")
    );

    let res = http.send(Req::get("/users/me").cookie(HOST_COOKIE, token)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // The default name is not read any more.
    let res = http
        .send(Req::get("/users/me").cookie("fastapiusersauth", token))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);

    // Repeated: refused, and cleared at `/` only (the one path a `__Host-` cookie can have).
    let both = format!("{HOST_COOKIE}={token}; {HOST_COOKIE}={token}");
    let res = http.send(Req::get("/users/me").header("cookie", &both)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    let cleared: Vec<_> = res
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert!(cleared[0].starts_with(&format!("{HOST_COOKIE}=;")), "{cleared:?}");
    for attribute in ["Secure", "Path=/", "Max-Age=0"] {
        assert!(
            cleared[0].split("; ").any(|a| a == attribute),
            "{attribute}: {cleared:?}"
        );
    }

    // Logout clears it with the attributes a browser needs to accept the removal.
    let res = (http)
        .send(Req::post("/auth/cookie/logout").cookie(HOST_COOKIE, token))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    assert_eq!(
        res.header("set-cookie"),
        Some(format!("{HOST_COOKIE}=\"\"; HttpOnly; Max-Age=0; Path=/; SameSite=lax; Secure").as_str())
    );
}

#[test]
fn a_prefixed_users_cookie_needs_secure_cookies() {
    for name in [HOST_COOKIE, "__Secure-fastapiusersauth"] {
        let store: Arc<dyn UserStore> = Arc::new(MemoryStore::default());
        let err = Users::builder(store)
            .secret(SECRET)
            .cookie_name(name)
            .secure_cookies(false)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "secure_cookies", "{name}");
    }
    let store: Arc<dyn UserStore> = Arc::new(MemoryStore::default());
    let err = Users::builder(store)
        .secret(SECRET)
        .cookie_name("a;b")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "cookie");
}

#[tokio::test]
async fn the_login_example_with_a_host_cookie() {
    let manager = (login_example::Auth::builder().secret(SECRET))
        .cookie("__Host-access-token")
        .build()
        .unwrap();
    let http = Via::http(login_example::app(manager)).await;
    let res = (http)
        .send(Req::post("/auth/cookie").form(&[("username", "johndoe@e.mail"), ("password", "hunter2")]))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    let set = res.header("set-cookie").unwrap();
    assert!(set.starts_with("__Host-access-token="), "{set}");
    assert!(
        set.contains("; Secure; Path=/;") && !set.contains("Domain"),
        "{set}"
    );
    let token = cookie_value(&res, "__Host-access-token");
    let res = http
        .send(Req::get("/dashboard").cookie("__Host-access-token", token))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.text().contains("Welcome, johndoe@e.mail"));
}

// ---- the built `users` binary: `COOKIE_NAME` ----

fn users_command(dir: &TempDir) -> Command {
    let mut cmd = Command::new(users_binary());
    cmd.current_dir(&dir.0)
        .env("DATABASE_URL", dir.db_url())
        .env("SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("REDIS_URL")
        .env_remove("BEARER_STRATEGY")
        .env_remove("COOKIE_STRATEGY")
        .env_remove("JWT_REVOCATION")
        .stdin(Stdio::null());
    cmd
}

#[tokio::test]
async fn the_users_example_reads_cookie_name() {
    let dir = TempDir::new();
    let mut cmd = users_command(&dir);
    cmd.env("COOKIE_NAME", HOST_COOKIE);
    let server = Running::spawn(cmd, dir.0.join("server.err"));
    let res = cookie_login(&server.via()).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    cookie_value(&res, HOST_COOKIE);
}

#[test]
fn a_bad_cookie_name_stops_the_users_example_naming_the_variable() {
    let dir = TempDir::new();
    let mut cmd = users_command(&dir);
    let mut child = cmd
        .env("COOKIE_NAME", "bad name")
        .env("PORT", binary::free_port().to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.0.join("bad.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started with COOKIE_NAME='bad name'");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(dir.0.join("bad.err")).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("COOKIE_NAME") && stderr.contains("bad name"),
        "{stderr}"
    );
}
