use axum::extract::Path;
use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected(optional)]
async fn page(Path(_n): Path<u32>, #[user] _user: User) {}

fn main() {}
