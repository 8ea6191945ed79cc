//! A `Result` alias with a boxed error works as a loader's return type too.

use login_runtime::{BoxError, LoginManager, protected, user_loader};

type Result<T> = std::result::Result<T, BoxError>;

struct User;

#[user_loader]
async fn load_user(id: &str) -> Result<Option<User>> {
    let _: u64 = id.parse()?;
    Ok(Some(User))
}

#[protected(optional)]
async fn home(user: Option<User>) -> &'static str {
    if user.is_some() {
        "hello, user"
    } else {
        "hello, stranger"
    }
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let _app: axum::Router = axum::Router::new()
        .route("/", axum::routing::get(home))
        .with_state(manager);
}
