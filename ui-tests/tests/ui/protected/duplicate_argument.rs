use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected(optional, optional)]
async fn home(_user: Option<User>) {}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/home", get(home))
        .with_state(manager);
    let _service = app.into_make_service();
}
