//! A whole app: a loader taking `&Db` from a `#[derive(FromRef)]` state, and required, optional,
//! scoped, redirecting and rejecting handlers routed on a `Router` with that state.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRef, Path};
use axum::routing::{get, post};
use axum::{Json, Router};
use login_runtime::{LoginManager, protected, user_loader};

#[derive(Clone, Default)]
struct Db {
    users: Arc<HashMap<String, User>>,
}

#[derive(Clone)]
struct Config {
    greeting: &'static str,
}

#[derive(Clone, FromRef)]
struct AppState {
    manager: LoginManager,
    db: Db,
    config: Config,
}

#[derive(Clone, serde::Serialize)]
struct User {
    email: String,
}

#[user_loader]
async fn load_user(email: &str, db: &Db, config: Config) -> Option<User> {
    let _ = config.greeting;
    db.users.get(email).cloned()
}

#[protected(state = AppState)]
async fn me(user: User) -> Json<User> {
    Json(user)
}

#[protected(optional, state = AppState)]
async fn home(user: Option<User>) -> String {
    user.map_or_else(|| "hello, stranger".to_owned(), |u| format!("hello, {}", u.email))
}

#[derive(serde::Deserialize)]
struct NewItem {
    name: String,
}

#[protected(scopes("admin", "items:write"), state = AppState)]
async fn create_item(user: User, Path(id): Path<u32>, Json(body): Json<NewItem>) -> String {
    format!("{} created item {id} named {}", user.email, body.name)
}

#[protected(redirect = "/login")]
async fn dashboard(user: User) -> String {
    user.email
}

fn who_are_you() -> (axum::http::StatusCode, &'static str) {
    (axum::http::StatusCode::UNAUTHORIZED, "who are you?")
}

#[protected(reject = who_are_you, scopes("admin"))]
async fn admin(_user: User) -> &'static str {
    "welcome, admin"
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let state = AppState {
        manager,
        db: Db::default(),
        config: Config { greeting: "hi" },
    };
    let _app: Router = Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .route("/items/{id}", post(create_item))
        .route("/dashboard", get(dashboard))
        .route("/admin", get(admin))
        .with_state(state);
}
