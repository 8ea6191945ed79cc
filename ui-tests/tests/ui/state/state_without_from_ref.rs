//! A state struct that holds the manager but has no `FromRef` for it, without `state = ..`.

use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[derive(Clone)]
struct AppState {
    manager: LoginManager,
}

#[protected]
async fn me(_user: User) {}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/me", get(me))
        .with_state(AppState { manager });
    let _service = app.into_make_service();
}
