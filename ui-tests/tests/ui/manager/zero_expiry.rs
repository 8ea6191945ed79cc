use login_runtime::login_config;

#[login_config(secret = env("SECRET"), expiry_secs = 0)]
struct Auth;

fn main() {}
