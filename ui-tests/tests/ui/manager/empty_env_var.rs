use login_runtime::login_config;

#[login_config(secret = env(""))]
struct Auth;

fn main() {}
