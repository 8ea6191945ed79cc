//! The README's quickstart: fastapi-login's manager, user loader and protected routes on axum.

use axum::{
    Form, Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use login_runtime::{AccessToken, LoginManager, login_config, protected, user_loader};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// manager = LoginManager(SECRET, token_url="/auth/token")
#[login_config(token_url = "/auth/token", secret = env("SECRET"))]
struct Auth;

#[derive(Clone, Serialize)]
struct User {
    email: String,
    scopes: Vec<String>,
}

fn find_user(email: &str) -> Option<User> {
    let scopes = if email == "admin@e.mail" {
        vec!["admin".into()]
    } else {
        vec![]
    };
    ["johndoe@e.mail", "admin@e.mail"].contains(&email).then(|| User {
        email: email.into(),
        scopes,
    })
}

// @manager.user_loader()
#[user_loader]
async fn load_user(email: &str) -> Option<User> {
    find_user(email)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

// @app.post("/auth/token"): a real app verifies a stored hash here (login-users: argon2id)
async fn login(
    State(manager): State<LoginManager>,
    Form(form): Form<LoginForm>,
) -> Result<Json<Value>, StatusCode> {
    let user = find_user(&form.username)
        .filter(|_| form.password == "hunter2")
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let token = AccessToken::new(&user.email).scopes(user.scopes);
    let access_token = manager
        .create_access_token(token)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(
        json!({ "access_token": access_token, "token_type": "bearer" }),
    ))
}

// def protected_route(user=Depends(manager))
#[protected]
async fn protected_route(user: User) -> Json<User> {
    Json(user)
}

// def optional_route(user=Depends(manager.optional))
#[protected(optional)]
async fn optional_route(user: Option<User>) -> String {
    user.map_or("hello, stranger".into(), |user| format!("hello, {}", user.email))
}

// def admin_route(user=Security(manager, scopes=["admin"]))
#[protected(scopes("admin"))]
async fn admin_route(user: User) -> String {
    format!("welcome, {}", user.email)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A failing loader (answered 500) and a refused token are reported only through `tracing`:
    // without a subscriber they go unseen. `Level::DEBUG` also logs why each token was refused.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();

    let app = Router::new()
        .route("/auth/token", post(login))
        .route("/protected", get(protected_route))
        .route("/optional", get(optional_route))
        .route("/admin", get(admin_route))
        .with_state(Auth::manager()?); // fails here, naming the setting, if SECRET is unset or short

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
