use login_runtime::login_config;

#[login_config(secret = env("SECRET"), expiry = 3600)]
struct Auth;

fn main() {}
