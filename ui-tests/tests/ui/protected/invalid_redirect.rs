use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected(redirect = "login")]
async fn dashboard(_user: User) {}

fn main() {}
