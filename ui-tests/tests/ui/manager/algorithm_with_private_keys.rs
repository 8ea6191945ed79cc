use login_runtime::login_config;

#[login_config(private_keys = env("JWT_PRIVATE_KEYS"), algorithm = "HS256")]
struct Auth;

fn main() {}
