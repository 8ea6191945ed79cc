use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

const ITEMS: &str = "items:read items:write";

#[protected(scopes(ITEMS))]
async fn items(_user: User) {}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/items", get(items))
        .with_state(manager);
    let _service = app.into_make_service();
}
