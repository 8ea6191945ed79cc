use axum::extract::Path;
use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected]
async fn item(Path(_id): Path<u32>, _user: User) {}

fn main() {}
