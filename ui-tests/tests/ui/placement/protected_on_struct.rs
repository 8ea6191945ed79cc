use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected]
struct Me;

#[protected]
async fn me(_user: User) {}

fn main() {
    let _ = Me;
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/me", get(me))
        .with_state(manager);
    let _service = app.into_make_service();
}
