//! fastapi-login's usage docs, written with this crate's macros.
//!
//! `cargo run --release -p login-example`, then:
//! ```text
//! curl -d username=johndoe@e.mail -d password=hunter2 localhost:8000/auth/token
//! curl -H "Authorization: Bearer $TOKEN" localhost:8000/protected
//! ```
//! `PORT` sets the port (8000), `SECRET` the HS256 secret (at least 32 bytes; unset: a random one),
//! `COOKIE_NAME` the cookie (`access-token`; `__Host-access-token` in production),
//! `HEADER_READ_TIMEOUT` and `IDLE_TIMEOUT` the connection timeouts (seconds; 10 and 60),
//! `RUST_LOG` the log level (`info`).

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use login_runtime::{AccessToken, CsrfGuard, LoginManager, login_config, no_store, protected, user_loader};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

/// The manager's literal settings, checked while compiling.
#[login_config(token_url = "/auth/token", cookie = "access-token", secret = env("SECRET"))]
pub struct Auth;

/// A user as handlers see it: no password.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    email: String,
    scopes: Vec<String>,
}

struct Stored {
    password: &'static str,
    scopes: &'static [&'static str],
}

/// The seed's `fake_db`.
static FAKE_DB: LazyLock<HashMap<&'static str, Stored>> = LazyLock::new(|| {
    HashMap::from([
        (
            "johndoe@e.mail",
            Stored {
                password: "hunter2",
                scopes: &[],
            },
        ),
        (
            "admin@e.mail",
            Stored {
                password: "admin-pass",
                scopes: &["admin"],
            },
        ),
    ])
});

#[user_loader]
async fn load_user(email: &str) -> Option<User> {
    FAKE_DB.get(email).map(|stored| User {
        email: email.to_owned(),
        scopes: stored.scopes.iter().map(|s| s.to_string()).collect(),
    })
}

/// OAuth2's password form (FastAPI's `OAuth2PasswordRequestForm`).
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// The user whose password matches, compared in constant time.
async fn authenticate(form: &LoginForm) -> Option<User> {
    let stored = FAKE_DB.get(form.username.as_str());
    // An unknown email is compared too, so the answer takes as long as for a wrong password.
    let expected = stored.map_or("\u{0}no such user", |s| s.password);
    let matches: bool = expected.as_bytes().ct_eq(form.password.as_bytes()).into();
    if stored.is_some() && matches {
        load_user(&form.username).await
    } else {
        None
    }
}

/// Why a login failed: bad credentials (401, as fastapi-login answers) or a token that could not
/// be signed (500, logged).
pub enum LoginError {
    /// Unknown email or wrong password.
    BadCredentials,
    /// Signing failed.
    Token(login_runtime::TokenError),
}

impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        match self {
            LoginError::BadCredentials => login_runtime::invalid_credentials(),
            LoginError::Token(error) => {
                tracing::error!(%error, "could not sign a token");
                axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// Checks the form and signs a token carrying the user's scopes.
async fn issue_token(manager: &LoginManager, form: &LoginForm) -> Result<String, LoginError> {
    let user = authenticate(form).await.ok_or(LoginError::BadCredentials)?;
    let token = AccessToken::new(&user.email);
    let token = if user.scopes.is_empty() {
        token
    } else {
        token.scopes(user.scopes)
    };
    manager.create_access_token(token).map_err(LoginError::Token)
}

async fn login(
    State(manager): State<LoginManager>,
    Form(form): Form<LoginForm>,
) -> Result<Response, LoginError> {
    let access_token = issue_token(&manager, &form).await?;
    // A token in the body: no cache may keep it (RFC 6749 §5.1).
    Ok(no_store(Json(
        json!({ "access_token": access_token, "token_type": "bearer" }),
    )))
}

async fn cookie_login(
    _: CsrfGuard,
    State(manager): State<LoginManager>,
    Form(form): Form<LoginForm>,
) -> Result<Response, LoginError> {
    let token = issue_token(&manager, &form).await?;
    let mut response = Redirect::to("/dashboard").into_response();
    manager.set_cookie(&mut response, token); // also marks the response no-store
    Ok(response)
}

#[protected]
async fn protected_route(user: User) -> Json<Value> {
    Json(json!({ "user": user }))
}

#[protected(optional)]
async fn optional_route(user: Option<User>) -> Json<Value> {
    Json(json!({ "user": user }))
}

#[protected(scopes("admin"))]
async fn admin_route(user: User) -> Json<Value> {
    Json(json!({ "user": user }))
}

/// The seed's `NotAuthenticatedException` handler: anonymous visitors go to the login page.
#[protected(redirect = "/login", state = LoginManager)]
async fn dashboard(user: User) -> Html<String> {
    Html(format!(
        "<!doctype html><title>Dashboard</title><h1>Welcome, {}</h1>",
        escape(&user.email)
    ))
}

async fn login_page() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><title>Log in</title>",
        "<form method=post action=/auth/cookie>",
        "<label>Email <input name=username type=email autocomplete=username required></label>",
        "<label>Password <input name=password type=password autocomplete=current-password required></label>",
        "<button>Log in</button></form>",
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole app, for `main` and for the tests.
pub fn app(manager: LoginManager) -> Router {
    Router::new()
        .route("/auth/token", post(login))
        .route("/auth/cookie", post(cookie_login))
        .route("/protected", get(protected_route))
        .route("/optional", get(optional_route))
        .route("/admin", get(admin_route))
        .route("/dashboard", get(dashboard))
        .route("/login", get(login_page))
        .with_state(manager)
}

/// `Auth`'s settings with the secret from `SECRET`, or a random one (with a warning) when unset,
/// and the cookie named by `COOKIE_NAME` when set.
pub fn manager() -> Result<LoginManager, login_runtime::ConfigError> {
    let mut builder = Auth::builder();
    if std::env::var_os("SECRET").is_none() {
        tracing::warn!("SECRET is not set: using a random secret, so tokens die with this process");
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret)
            .map_err(|e| login_runtime::ConfigError::new("SECRET", format!("no random secret: {e}")))?;
        builder = builder.secret(secret);
    }
    if let Ok(name) = std::env::var("COOKIE_NAME") {
        builder = builder.cookie(name);
    }
    builder.build().map_err(|e| match e.setting() {
        "cookie" => login_runtime::ConfigError::new("COOKIE_NAME", e.to_string()),
        _ => e,
    })
}
