use login_runtime::login_config;

#[login_config(secret = env("SECRET"), cookie = "__Host-access-token", secure_cookies = false)]
struct Auth;

fn main() {}
