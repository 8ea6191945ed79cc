//! `.with_state(())` on a router of `#[protected]` handlers: rustc infers the state from the only
//! `FromRef` impl that gives a `LoginManager` and reports the mismatch at `.with_state(..)`.

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
    let app: Router = Router::new().route("/me", get(me)).with_state(());
    let _service = app.into_make_service();
}
