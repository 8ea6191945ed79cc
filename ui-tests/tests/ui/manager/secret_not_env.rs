use login_runtime::login_config;

#[login_config(secret = var("SECRET"))]
struct Auth;

fn main() {}
