//! What a deployment of the built examples needs, checked over real sockets against the
//! `users` and `login` binaries (`cargo build -p login-example -p users-example`):
//!
//! - connection timeouts: a silent client (200 of them at once), a client sending its head one
//!   byte at a time, an idle kept-alive connection and a body that stops arriving are all
//!   disconnected (`HEADER_READ_TIMEOUT`, `IDLE_TIMEOUT`), while a normal request still works;
//! - `Cache-Control: no-store` on every response that carries a token;
//! - `create-user` without `--password` reads the password from stdin (never from the command
//!   line, where `ps` shows it);
//! - the serving loop keeps the peer address the login throttle keys on.

mod support;
use support::binary;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use binary::{Running, example_binary};

use serde_json::json;
use support::{Req, TempDir, Via};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "deploy-tests-secret-0123456789abcdefghij";
const HEADER_READ: u64 = 1;
const IDLE: u64 = 2;
/// Slack for a loaded machine on top of a timeout before a test calls the connection "kept".
const SLACK: Duration = Duration::from_secs(4);

/// A fresh directory of this test's, kept when the test fails.
fn temp_dir(tag: &str) -> TempDir {
    TempDir::named(&format!("login-deploy-{tag}"))
}

/// The `name` example with short timeouts (and, for `users`, a fresh SQLite file).
/// A running example, stopped before its directory is removed.
struct Server {
    running: Running,
    _dir: TempDir,
}

impl std::ops::Deref for Server {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.running
    }
}

fn start(name: &str) -> Server {
    let dir = temp_dir(name);
    let mut cmd = Command::new(example_binary(name));
    cmd.env("SECRET", SECRET)
        .env("HEADER_READ_TIMEOUT", HEADER_READ.to_string())
        .env("IDLE_TIMEOUT", IDLE.to_string())
        .env("RUST_LOG", "warn")
        .env_remove("REDIS_URL")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("users.db").display()),
        );
    Server {
        running: Running::spawn(cmd, dir.join("stderr.log")),
        _dir: dir,
    }
}

fn addr(server: &Running) -> String {
    match server.via() {
        Via::Http { base, .. } => base.trim_start_matches("http://").to_owned(),
        Via::Oneshot(_) => unreachable!(),
    }
}

/// Reads until the server closes the connection; how long that took, or `None` if it was still
/// open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Reads one whole response with a `content-length` (the connection stays open).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("no answer within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "closed before the answer: {}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

async fn silent_connections_are_closed(name: &str) {
    let server = start(name);
    let addr = addr(&server);
    let limit = Duration::from_secs(HEADER_READ) + SLACK;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        tasks.spawn(async move { closed_within(&mut stream, limit).await });
    }
    let results = tasks.join_all().await;
    let open = results.iter().filter(|r| r.is_none()).count();
    assert_eq!(
        open, 0,
        "{name}: {open} of 200 silent connections still open {limit:?} after connecting \
         (HEADER_READ_TIMEOUT={HEADER_READ})"
    );
    // The server still answers.
    let res = server.via().send(Req::get("/nowhere-at-all")).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{name}");
}

async fn slow_head_is_closed(name: &str) {
    let server = start(name);
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(b"GET /protected HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header byte every 200 ms: each byte is progress, but the head never ends.
    let start = Instant::now();
    let limit = Duration::from_secs(HEADER_READ) + SLACK;
    let mut closed = false;
    while start.elapsed() < limit {
        if stream.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(
        closed,
        "{name}: a head sent one byte every 200 ms was still being read after {limit:?}"
    );
}

async fn idle_keep_alive_is_closed(name: &str) {
    let server = start(name);
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(b"GET /nowhere-at-all HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{name}: {answer}");
    let limit = Duration::from_secs(HEADER_READ) + SLACK;
    assert!(
        closed_within(&mut stream, limit).await.is_some(),
        "{name}: an idle kept-alive connection was still open {limit:?} after its answer"
    );
}

async fn stalled_body_is_closed(name: &str) {
    let server = start(name);
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    let path = if name == "users" {
        "/auth/jwt/login"
    } else {
        "/auth/token"
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\n\r\nusername="
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let limit = Duration::from_secs(IDLE) + SLACK;
    assert!(
        closed_within(&mut stream, limit).await.is_some(),
        "{name}: a body stalled after 9 of 100 bytes kept its connection {limit:?}"
    );
}

mod users {
    #[tokio::test]
    async fn silent_connections_are_closed() {
        super::silent_connections_are_closed("users").await;
    }
    #[tokio::test]
    async fn slow_head_is_closed() {
        super::slow_head_is_closed("users").await;
    }
    #[tokio::test]
    async fn idle_keep_alive_is_closed() {
        super::idle_keep_alive_is_closed("users").await;
    }
    #[tokio::test]
    async fn stalled_body_is_closed() {
        super::stalled_body_is_closed("users").await;
    }
}

mod login {
    #[tokio::test]
    async fn silent_connections_are_closed() {
        super::silent_connections_are_closed("login").await;
    }
    #[tokio::test]
    async fn slow_head_is_closed() {
        super::slow_head_is_closed("login").await;
    }
    #[tokio::test]
    async fn idle_keep_alive_is_closed() {
        super::idle_keep_alive_is_closed("login").await;
    }
    #[tokio::test]
    async fn stalled_body_is_closed() {
        super::stalled_body_is_closed("login").await;
    }
}

/// `users` on the SQLite file `db` with short timeouts.
fn start_users_on(db: &std::path::Path, dir: &std::path::Path) -> Running {
    let mut cmd = Command::new(example_binary("users"));
    cmd.env("SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .env_remove("REDIS_URL")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()));
    Running::spawn(cmd, dir.join("stderr.log"))
}

fn random_email(tag: &str) -> String {
    format!("{tag}-{}@camelot.bt", uuid::Uuid::new_v4().simple())
}

fn assert_no_store(res: &support::Res, what: &str) {
    let cache = res.header("cache-control").unwrap_or_default();
    assert!(
        cache
            .split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store")),
        "{what}: a response carrying a token needs Cache-Control: no-store, got {cache:?} ({} {})",
        res.status,
        res.text()
    );
}

#[tokio::test]
async fn users_token_responses_are_not_stored() {
    let server = start("users");
    let via = server.via();
    let email = random_email("arthur");
    let res = via
        .send(Req::post("/auth/register").json(&json!({"email": email, "password": "guinevere"})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let form = [("username", email.as_str()), ("password", "guinevere")];
    let res = via.send(Req::post("/auth/jwt/login").multipart(&form)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.json()["access_token"].is_string());
    assert_no_store(&res, "POST /auth/jwt/login");
    let res = via.send(Req::post("/auth/cookie/login").form(&form)).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    assert!(
        res.header("set-cookie")
            .is_some_and(|c| c.starts_with("fastapiusersauth=ey"))
    );
    assert_no_store(&res, "POST /auth/cookie/login");
}

#[tokio::test]
async fn login_token_responses_are_not_stored() {
    let server = start("login");
    // The cookie login answers 303: read it, do not follow it.
    let via = Via::Http {
        base: format!("http://{}", addr(&server)),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap(),
    };
    let form = [("username", "johndoe@e.mail"), ("password", "hunter2")];
    let res = via.send(Req::post("/auth/token").form(&form)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.json()["access_token"].is_string());
    assert_no_store(&res, "POST /auth/token");
    let res = via.send(Req::post("/auth/cookie").form(&form)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    assert!(
        res.header("set-cookie")
            .is_some_and(|c| c.starts_with("access-token=ey"))
    );
    assert_no_store(&res, "POST /auth/cookie");
}

/// `users create-user` with `args` and `stdin` piped in, on the database `db`.
fn create_user(db: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(example_binary("users"))
        .arg("create-user")
        .args(args)
        .env("SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .env_remove("REDIS_URL")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn create_user_reads_the_password_from_stdin() {
    let dir = temp_dir("create-user");
    let db = dir.join("users.db");
    let email = random_email("admin");
    let out = create_user(&db, &["--email", &email, "--superuser"], "excalibur! and more\n");
    assert!(
        out.status.success(),
        "create-user without --password: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(printed["email"], email);
    assert_eq!(printed["is_superuser"], true);

    // The password is the line read, without its line ending.
    let server = start_users_on(&db, &dir);
    let via = server.via();
    for (password, status) in [
        ("excalibur! and more\n", StatusCode::BAD_REQUEST),
        ("excalibur! and more", StatusCode::OK),
    ] {
        let form = [("username", email.as_str()), ("password", password)];
        let res = via.send(Req::post("/auth/jwt/login").form(&form)).await;
        assert_eq!(res.status, status, "login with {password:?}: {}", res.text());
    }

    // No password at all: refused, nothing created.
    let other = random_email("nobody");
    let out = create_user(&db, &["--email", &other], "");
    assert!(!out.status.success(), "an empty stdin must not create a user");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("password"), "{stderr}");

    // --password still works, as the contract says (and the email above is still free).
    let out = create_user(&db, &["--email", &other, "--password", "lancelot-du-lac"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let form = [("username", other.as_str()), ("password", "lancelot-du-lac")];
    let res = via.send(Req::post("/auth/jwt/login").form(&form)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

/// The serving loop hands each request its peer address (`ConnectInfo`): the login throttle
/// backs off the address that failed, not a client on another one.
#[tokio::test]
async fn users_login_throttle_keys_on_the_peer_address() {
    let server = start("users");
    let base = format!("http://{}", addr(&server));
    let from = |ip: [u8; 4]| Via::Http {
        base: base.clone(),
        client: reqwest::Client::builder()
            .no_proxy()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap(),
    };
    let (attacker, user) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    let email = random_email("percival");
    let res = attacker
        .send(Req::post("/auth/register").json(&json!({"email": email, "password": "guinevere"})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let wrong = [("username", email.as_str()), ("password", "not-the-password")];
    let mut throttled = false;
    for _ in 0..10 {
        let res = attacker.send(Req::post("/auth/jwt/login").form(&wrong)).await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    }
    assert!(throttled, "ten failures from one address were never throttled");
    let right = [("username", email.as_str()), ("password", "guinevere")];
    let res = user.send(Req::post("/auth/jwt/login").form(&right)).await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "127.0.0.2 was throttled for 127.0.0.1's failures: the server lost the peer address: {}",
        res.text()
    );
}

/// A timeout that is not a positive number of seconds stops the start, naming the variable.
#[test]
fn a_bad_timeout_setting_stops_the_start() {
    for name in ["users", "login"] {
        for (var, value) in [("HEADER_READ_TIMEOUT", "0"), ("IDLE_TIMEOUT", "ten")] {
            let dir = temp_dir(name);
            let log = dir.join("stderr.log");
            let mut child = Command::new(example_binary(name))
                .env("SECRET", SECRET)
                .env("PORT", "0")
                .env(var, value)
                .env_remove("REDIS_URL")
                .env(
                    "DATABASE_URL",
                    format!("sqlite://{}", dir.join("users.db").display()),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            // A server that starts anyway is stopped after 10 s, and the test fails.
            let deadline = Instant::now() + Duration::from_secs(10);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break child.wait().unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let out = std::process::Output {
                status,
                stdout: Vec::new(),
                stderr: std::fs::read(&log).unwrap(),
            };
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{name} started with {var}={value}");
            assert!(stderr.contains(var), "{name}, {var}={value}: {stderr}");
        }
    }
}
