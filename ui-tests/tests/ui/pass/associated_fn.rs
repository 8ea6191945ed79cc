//! `#[protected]` on associated functions of an `impl` block (without a guard: see
//! `placement/protected_guard_in_impl.rs`).

use axum::Router;
use axum::routing::get;
use login_runtime::{LoginManager, protected, user_loader};

#[derive(Clone)]
struct User {
    email: String,
}

#[user_loader]
async fn load_user(email: &str) -> Option<User> {
    Some(User { email: email.to_owned() })
}

struct Api;

impl Api {
    #[protected]
    async fn me(user: User) -> String {
        user.email
    }

    #[protected(optional)]
    async fn home(user: Option<User>) -> String {
        user.map_or_else(|| "hello, stranger".to_owned(), |u| u.email)
    }
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/me", get(Api::me))
        .route("/", get(Api::home))
        .with_state(manager);
    let _service = app.into_make_service();
}
