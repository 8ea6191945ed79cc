use login_runtime::user_loader;

struct User;

struct Repo;

impl Repo {
    #[user_loader]
    async fn load_user(&self, _id: &str) -> Option<User> {
        None
    }
}

fn main() {}
