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

fn main() {}
