//! A handler without a user argument is a guard-only route: a valid token is required, no user is
//! loaded.

use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected};

#[protected]
async fn me() -> &'static str {
    "a valid token"
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new().route("/me", get(me)).with_state(manager);
    let _service = app.into_make_service();
}
