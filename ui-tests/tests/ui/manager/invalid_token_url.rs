use login_runtime::login_config;

#[login_config(secret = env("SECRET"), token_url = "auth/token")]
struct Auth;

fn main() {}
