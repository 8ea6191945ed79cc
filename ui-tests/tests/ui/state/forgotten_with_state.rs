//! A router of `#[protected]` handlers served without `.with_state(manager)`.

use axum::Router;
use axum::routing::get;
use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected]
async fn me(_user: User) {}

fn main() {
    let app: Router = Router::new().route("/me", get(me));
    let _service = app.into_make_service();
}
