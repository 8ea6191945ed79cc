use login_runtime::login_config;

#[login_config(secret = env("SECRET"), private_keys = env("JWT_PRIVATE_KEYS"))]
struct Auth;

fn main() {}
