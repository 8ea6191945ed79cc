use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[protected(scope("admin"))]
async fn admin(_user: User) {}

fn main() {}
