use login_runtime::login_config;

#[login_config(secret = env("SECRET"), header = false)]
struct Auth;

fn main() {}
