use login_runtime::login_config;

#[login_config(secret = env("SECRET"), algorithm = "hs256")]
struct Auth;

fn main() {}
