use login_runtime::login_config;

#[login_config(secret = "short", token_url = "token", cookie = "a;b")]
struct Auth;

fn main() {}
