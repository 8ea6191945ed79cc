//! An associated function with `reject`: its guard is a type the macro defines beside the handler,
//! which an `impl` block cannot hold (literal scopes and a redirect need none: see
//! `pass/guard_in_impl.rs`).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

fn unauthorized() -> StatusCode {
    StatusCode::UNAUTHORIZED
}

struct Api;

impl Api {
    #[protected(reject = unauthorized)]
    async fn admin(_user: User) {}
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/admin", get(Api::admin))
        .with_state(manager);
    let _service = app.into_make_service();
}
