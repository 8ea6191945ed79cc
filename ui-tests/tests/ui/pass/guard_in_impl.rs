//! Guards on associated functions of an `impl` block: literal scopes and a redirect need no type
//! beside the handler (account flags and `reject` do: see `placement/protected_reject_in_impl.rs`).

use axum::Router;
use axum::routing::{delete, get};
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
    #[protected(scopes("admin"))]
    async fn admin(user: User) -> String {
        user.email
    }

    #[protected(scopes("items:read", "items:write"), redirect = "/login")]
    async fn items(user: User) -> String {
        user.email
    }

    #[protected(optional, scopes("admin"))]
    async fn home(user: Option<User>) -> String {
        user.map_or_else(|| "hello, stranger".to_owned(), |u| u.email)
    }

    #[protected(scopes("admin"))]
    async fn purge() -> &'static str {
        "purged"
    }
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/admin", get(Api::admin))
        .route("/items", get(Api::items))
        .route("/", get(Api::home))
        .route("/purge", delete(Api::purge))
        .with_state(manager);
    let _service = app.into_make_service();
}
