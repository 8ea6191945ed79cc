//! `crate = path`: the macros reach a renamed or re-exported `login_runtime` (here `auth`, an
//! `extern crate` alias, and `web::login`, a module re-export), as `#[serde(crate = "..")]` does.

extern crate login_runtime as auth;

mod web {
    pub use ::login_runtime as login;
}

use axum::Router;
use axum::routing::get;

#[derive(Clone)]
struct User;

#[auth::user_loader(crate = auth)]
async fn load_user(_id: &str) -> Option<User> {
    Some(User)
}

#[auth::protected(crate = web::login)]
async fn me(_user: User) -> &'static str {
    "me"
}

#[auth::protected(scopes("admin"), crate = auth)]
async fn purge() -> &'static str {
    "purged"
}

#[web::login::login_config(secret = env("SECRET"), expiry_secs = 60 * 60, crate = web::login)]
struct Auth;

fn main() {
    let manager = Auth::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .route("/me", get(me))
        .route("/purge", get(purge))
        .with_state(manager);
    let _service = app.into_make_service();
}
