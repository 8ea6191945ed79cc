use login_runtime::login_config;

#[login_config(secret = env("SECRET"), algorithm = "HS257")]
struct Auth;

fn main() {}
