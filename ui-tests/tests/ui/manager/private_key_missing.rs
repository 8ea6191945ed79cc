use login_runtime::login_config;

#[login_config(private_keys = ["keys/surely-missing.pem"])]
struct Auth;

fn main() {}
