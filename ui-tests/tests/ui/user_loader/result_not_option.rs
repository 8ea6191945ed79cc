use login_runtime::user_loader;

struct User;

#[user_loader]
async fn load_user(_id: &str) -> Result<User, std::io::Error> {
    Ok(User)
}

fn main() {}
