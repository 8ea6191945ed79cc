use login_runtime::login_config;

#[login_config(secret = "hunter2")]
struct Auth;

fn main() {}
