use axum::Router;
use axum::routing::get;
use axum::extract::FromRef;
use login_runtime::{LoginManager, protected, user_loader};

#[derive(Clone)]
struct Db;

struct User;

#[user_loader]
async fn load_user(_id: &str, _db: &Db) -> Option<User> {
    None
}

#[derive(Clone, FromRef)]
struct AppState {
    manager: LoginManager,
}

#[protected(state = AppState)]
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
