//! A loader that can fail returns `Result<Option<User>, E>` for any error type `E`.

use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

#[derive(Debug)]
struct DbError;

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the database is down")
    }
}

impl std::error::Error for DbError {}

struct User {
    id: String,
}

#[user_loader]
async fn load_user(id: &str) -> Result<Option<User>, DbError> {
    if id.is_empty() {
        Err(DbError)
    } else {
        Ok(Some(User { id: id.to_owned() }))
    }
}

#[protected]
async fn me(user: User) -> String {
    user.id
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let _app: Router = Router::new().route("/me", get(me)).with_state(manager);
}
