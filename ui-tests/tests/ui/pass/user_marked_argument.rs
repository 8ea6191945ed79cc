//! `#[user]` marks the user argument when it is not the first one.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

struct User {
    name: String,
}

#[user_loader]
async fn load_user(name: &str) -> Option<User> {
    Some(User {
        name: name.to_owned(),
    })
}

#[protected]
async fn list(Path(page): Path<u32>, #[user] user: User) -> String {
    format!("page {} for {}", page, user.name)
}

#[protected(optional)]
async fn browse(Path(page): Path<u32>, #[user] user: Option<User>) -> String {
    format!(
        "page {} for {}",
        page,
        user.map_or("nobody".to_owned(), |u| u.name)
    )
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let _app: Router = Router::new()
        .route("/list/{page}", get(list))
        .route("/browse/{page}", get(browse))
        .with_state(manager);
}
