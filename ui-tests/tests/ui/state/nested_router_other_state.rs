//! A protected router nested into an app whose state has no manager.

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

#[derive(Clone)]
struct Other;

fn main() {
    let api = Router::new().route("/me", get(me));
    let app: Router = Router::new().nest("/api", api).with_state(Other);
    let _service = app.into_make_service();
}
