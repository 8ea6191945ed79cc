use axum::extract::Path;
use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected]
async fn compare(Path(_id): Path<u32>, #[user] _user: User, #[user] _other: User) {}

fn main() {}
