use login_runtime::protected;

struct User;

#[protected]
async fn me(_user: User) {}

fn main() {}
