use login_runtime::user_loader;

struct User;

#[user_loader]
async fn load_user() -> Option<User> {
    None
}

fn main() {}
