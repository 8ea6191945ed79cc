use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

fn unauthorized() -> &'static str {
    "who are you?"
}

#[protected(redirect = "/login", reject = unauthorized)]
async fn me(_user: User) {}

fn main() {}
