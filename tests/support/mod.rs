//! Test plumbing: one request type sent either through `tower::ServiceExt::oneshot` or over a real
//! socket, so every scenario runs both ways.

#![allow(dead_code)]

pub mod binary;
pub mod users_db;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// How requests reach the app.
pub enum Via {
    Oneshot(Router),
    Http { base: String, client: reqwest::Client },
}

impl Via {
    /// Both ways of reaching `app`: in-process and over a bound socket.
    pub async fn both(app: Router) -> [Via; 2] {
        let addr = serve(app.clone()).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        [
            Via::Oneshot(app),
            Via::Http {
                base: format!("http://{addr}"),
                client,
            },
        ]
    }

    /// `app` over a bound loopback socket only (a real client, no redirects, no proxy).
    pub async fn http(app: Router) -> Via {
        let addr = serve(app).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        Via::Http {
            base: format!("http://{addr}"),
            client,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Via::Oneshot(_) => "oneshot",
            Via::Http { .. } => "http",
        }
    }

    pub async fn send(&self, req: Req) -> Res {
        match self {
            Via::Oneshot(app) => {
                let mut builder = Request::builder().method(req.method).uri(&req.path);
                for (k, v) in &req.headers {
                    builder = builder.header(k, v);
                }
                let res = app
                    .clone()
                    .oneshot(builder.body(Body::from(req.body)).unwrap())
                    .await
                    .unwrap();
                Res::read(res).await
            }
            Via::Http { base, client } => {
                let mut builder = client.request(req.method, format!("{base}{}", req.path));
                for (k, v) in &req.headers {
                    builder = builder.header(k, v);
                }
                let res = builder.body(req.body).send().await.unwrap();
                let status = res.status();
                let headers = res.headers().clone();
                let body = res.bytes().await.unwrap().to_vec();
                Res {
                    status,
                    headers,
                    body,
                }
            }
        }
    }
}

/// Binds `app` on a free loopback port and serves it in the background.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Binds `app` on a free loopback port and serves it in the background, each request carrying
/// the peer's `ConnectInfo<SocketAddr>` (what the login throttle keys on), as the examples' server
/// loop does.
pub async fn serve_with_peers(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

/// A request under construction.
#[derive(Debug)]
pub struct Req {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

impl Req {
    pub fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            headers: vec![],
            body: vec![],
        }
    }

    pub fn post(path: &str) -> Self {
        Self {
            method: Method::POST,
            ..Self::get(path)
        }
    }

    pub fn patch(path: &str) -> Self {
        Self {
            method: Method::PATCH,
            ..Self::get(path)
        }
    }

    pub fn delete(path: &str) -> Self {
        Self {
            method: Method::DELETE,
            ..Self::get(path)
        }
    }

    /// A `multipart/form-data` body of text fields, as `curl -F name=value` sends it.
    pub fn multipart(mut self, pairs: &[(&str, &str)]) -> Self {
        let boundary = "------------------------login-runtime-tests";
        let mut body = String::new();
        for (name, value) in pairs {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        self.body = body.into_bytes();
        self.header(
            "content-type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.parse().unwrap(), HeaderValue::from_str(value).unwrap()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn cookie(self, name: &str, value: &str) -> Self {
        self.header("cookie", &format!("{name}={value}"))
    }

    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        self.body = body.join("&").into_bytes();
        self.header("content-type", "application/x-www-form-urlencoded")
    }

    pub fn json(mut self, value: &Value) -> Self {
        self.body = value.to_string().into_bytes();
        self.header("content-type", "application/json")
    }

    pub fn raw_body(mut self, content_type: &str, body: &str) -> Self {
        self.body = body.as_bytes().to_vec();
        self.header("content-type", content_type)
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A response, fully read.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Res {
    /// Reads an in-process response whole.
    pub async fn read(res: axum::response::Response) -> Self {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Res {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Asserts fastapi-login's 401: `{"detail":"Invalid credentials"}` and `WWW-Authenticate: Bearer`.
    pub fn assert_unauthenticated(&self, context: &str) {
        assert_eq!(
            self.status,
            StatusCode::UNAUTHORIZED,
            "{context}: {}",
            self.text()
        );
        assert_eq!(
            self.json(),
            serde_json::json!({"detail": "Invalid credentials"}),
            "{context}"
        );
        assert_eq!(self.header("www-authenticate"), Some("Bearer"), "{context}");
    }
}

/// Now, in seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The value of the service variable `var` (`REDIS_URL`, `FASTAPI_USERS_PYTHON`, …) for a test
/// marked `#[ignore = "needs <var>"]`, which `-- --include-ignored` runs. Panics, naming the
/// variable, when it is unset or empty: such a test never passes without its service.
pub fn needs(var: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => panic!(
            "{var} is not set: this test needs it (.ci/run sets it; see the README). Without the \
             service, run the suite without `--include-ignored` and the test is reported ignored."
        ),
    }
}

/// `DATABASE_URL` for a test marked `#[ignore = "needs DATABASE_URL"]`: panics, naming the
/// variable, unless it is a `postgres://` (or `postgresql://`) URL.
pub fn postgres_url() -> String {
    let url = needs("DATABASE_URL");
    assert!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "DATABASE_URL is `{url}`: this test needs a postgres:// URL, e.g. \
         postgres://postgres@127.0.0.1:5432/test"
    );
    url
}

/// A fresh directory under the system's temp dir, for a test's databases, logs and scripts;
/// removed on drop unless the test failed (then it is kept for a look).
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// `<temp dir>/login-tests-<uuid>`, created.
    pub fn new() -> Self {
        Self::named("login-tests")
    }

    /// `<temp dir>/<prefix>-<uuid>`, created.
    pub fn named(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// `sqlite://<dir>/users.db`.
    pub fn db_url(&self) -> String {
        format!("sqlite://{}", self.0.join("users.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}
