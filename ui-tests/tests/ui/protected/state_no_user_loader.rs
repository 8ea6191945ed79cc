use axum::extract::FromRef;
use login_runtime::{LoginManager, protected};

struct User;

#[derive(Clone, FromRef)]
struct AppState {
    manager: LoginManager,
}

#[protected(state = AppState)]
async fn me(_user: User) {}

fn main() {}
