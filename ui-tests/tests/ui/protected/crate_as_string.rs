use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected(crate = "login_runtime")]
async fn me(_user: User) {}

fn main() {}
