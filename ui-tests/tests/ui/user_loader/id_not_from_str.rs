use login_runtime::user_loader;

struct UserId(u64);

struct User;

#[user_loader]
async fn load_user(_id: UserId) -> Option<User> {
    None
}

fn main() {}
