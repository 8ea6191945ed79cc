use std::rc::Rc;

use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User;

async fn lookup(_id: &str) {}

#[user_loader]
async fn load_user(id: &str) -> Option<User> {
    let cache = Rc::new(());
    lookup(id).await;
    drop(cache);
    None
}

#[protected]
async fn me(_user: User) {}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/me", get(me))
        .with_state(manager);
    let _service = app.into_make_service();
}
