use login_runtime::user_loader;

struct User;

#[user_loader]
async fn load_user<D>(_id: &str) -> Option<User> {
    None
}

fn main() {}
