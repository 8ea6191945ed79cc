use login_runtime::user_loader;

struct User;

struct NotAnError;

#[user_loader]
async fn load_user(_id: &str) -> Result<Option<User>, NotAnError> {
    Ok(None)
}

fn main() {}
