//! Guard-only routes: scopes (literal or `const`), a redirect, other extractors, and a `state`
//! check, without a user argument.

use axum::extract::{FromRef, Path, State};
use axum::routing::{delete, get};
use axum::Router;
use login_runtime::{LoginManager, protected};

const ADMIN: &str = "admin";

mod scopes {
    pub const ITEMS_WRITE: &str = "items:write";
}

#[derive(Clone)]
struct Db;

#[derive(Clone, FromRef)]
struct AppState {
    manager: LoginManager,
    db: Db,
}

#[protected(scopes("admin"))]
async fn purge() -> &'static str {
    "purged"
}

#[protected(scopes(ADMIN, scopes::ITEMS_WRITE), state = AppState)]
async fn delete_item(Path(id): Path<u32>, State(_db): State<Db>) -> String {
    format!("deleted {id}")
}

#[protected(redirect = "/login")]
async fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/purge", get(purge))
        .route("/items/{id}", delete(delete_item))
        .route("/dashboard", get(dashboard))
        .with_state(AppState { manager, db: Db });
    let _service = app.into_make_service();
}
