use login_runtime::user_loader;

struct User;

#[user_loader]
fn load_user(_id: &str) -> Option<User> {
    None
}

fn main() {}
