use login_runtime::login_config;

#[login_config(private_keys = file("keys/new.pem"))]
struct Auth;

fn main() {}
