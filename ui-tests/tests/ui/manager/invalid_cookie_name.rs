use login_runtime::login_config;

#[login_config(secret = env("SECRET"), cookie = "access token")]
struct Auth;

fn main() {}
