use login_runtime::{protected, user_loader};

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

struct Nope;

fn who_are_you() -> Nope {
    Nope
}

#[protected(reject = who_are_you)]
async fn me(_user: User) {}

fn main() {}
