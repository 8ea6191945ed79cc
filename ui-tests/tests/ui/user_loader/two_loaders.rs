use login_runtime::user_loader;

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Option<User> {
    None
}

#[user_loader]
async fn load_user_again(_id: &str) -> Option<User> {
    None
}

fn main() {}
