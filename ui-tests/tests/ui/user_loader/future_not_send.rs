use std::rc::Rc;

use login_runtime::user_loader;

struct User;

async fn lookup(_id: &str) {}

#[user_loader]
async fn load_user(id: &str) -> Option<User> {
    let cache = Rc::new(());
    lookup(id).await;
    drop(cache);
    None
}

fn main() {}
