use login_runtime::login_config;

#[login_config(secret = env("SECRET"), leeway_secs = 86400)]
struct Auth;

fn main() {}
