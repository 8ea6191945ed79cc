use login_runtime::login_config;

#[login_config(secret = env("SECRET"))]
struct Auth {
    secret: String,
}

fn main() {}
