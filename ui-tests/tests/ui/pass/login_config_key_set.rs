//! `#[login_config]` with a key set read from the environment at run time.

use login_runtime::{ConfigError, LoginManager, login_config};

#[login_config(private_keys = env("JWT_PRIVATE_KEYS"), cookie)]
struct KeySetAuth;

fn main() {
    let _: Result<LoginManager, ConfigError> = KeySetAuth::manager();
}
