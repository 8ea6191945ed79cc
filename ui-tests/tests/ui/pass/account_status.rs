//! `active`, `verified` and `superuser` need the user type to implement `AccountStatus`.

use axum::Router;
use axum::routing::get;
use login_runtime::{AccountStatus, LoginManager, protected, user_loader};

struct User {
    active: bool,
    admin: bool,
}

impl AccountStatus for User {
    fn is_active(&self) -> bool {
        self.active
    }
    fn is_verified(&self) -> bool {
        true
    }
    fn is_superuser(&self) -> bool {
        self.admin
    }
}

#[user_loader]
async fn load_user(id: &str) -> Option<User> {
    Some(User { active: id != "gone", admin: id == "root" })
}

#[protected(active)]
async fn me(_user: User) {}

#[protected(active, verified)]
async fn dashboard(_user: User) {}

#[protected(active, superuser, scopes("admin"))]
async fn admin(_user: User) {}

#[protected(optional, superuser)]
async fn maybe_admin(_user: Option<User>) {}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let _app: Router = Router::new()
        .route("/me", get(me))
        .route("/dashboard", get(dashboard))
        .route("/admin", get(admin))
        .route("/maybe", get(maybe_admin))
        .with_state(manager);
}
