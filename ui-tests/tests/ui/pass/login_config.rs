//! `#[login_config]` with the secret read from the environment and a cookie transport; and one with
//! every literal setting; a `__Host-` cookie.

use login_runtime::{ConfigError, LoginManager, LoginManagerBuilder, login_config};

#[login_config(secret = env("SECRET"), cookie)]
struct Auth;

#[login_config(
    secret = "0123456789abcdef0123456789abcdef",
    algorithm = "HS512",
    token_url = "/auth/token",
    header = false,
    cookie = "session-token",
    expiry_secs = 60 * 60,
    leeway_secs = 5,
    issuer = "https://auth.example",
    audience = "api",
    secure_cookies = false
)]
struct FullAuth;

#[login_config(algorithm = "ES256")]
struct KeyPairAuth;

/// The recommended production cookie: `__Host-` (Secure, the default, is required).
#[login_config(secret = env("SECRET"), cookie = "__Host-access-token", secure_cookies = true)]
struct HostCookieAuth;

fn main() {
    let _: LoginManagerBuilder = Auth::builder();
    let _: Result<LoginManager, ConfigError> = Auth::manager();
    let manager = FullAuth::manager().expect("the literal configuration is valid");
    assert_eq!(manager.cookie_name(), Some("session-token"));
    assert!(!manager.reads_header());
    let _: LoginManagerBuilder = KeyPairAuth::builder();
    let _: LoginManagerBuilder = HostCookieAuth::builder();
}
