//! `#[debug_handler]` below `#[protected]` checks the rewritten handler, with the router's state.

use axum::Router;
use axum::debug_handler;
use axum::extract::Path;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    Some(User)
}

#[protected(scopes("admin"))]
#[debug_handler(state = LoginManager)]
async fn item(Path(id): Path<u32>, #[user] _user: User) -> String {
    id.to_string()
}

#[protected(scopes("admin"))]
#[debug_handler(state = LoginManager)]
async fn purge() -> &'static str {
    "purged"
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/items/{id}", get(item))
        .route("/purge", get(purge))
        .with_state(manager);
    let _service = app.into_make_service();
}
