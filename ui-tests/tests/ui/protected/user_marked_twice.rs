use axum::extract::Path;
use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected]
async fn compare(Path(_id): Path<u32>, #[user] _user: User, #[user] _other: User) {}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/compare", get(compare))
        .with_state(manager);
    let _service = app.into_make_service();
}
