use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    Some(User)
}

#[protected(active, superuser)]
async fn admin(_user: User) {}

fn main() {}
