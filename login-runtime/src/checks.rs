//! The checks on literal settings, shared by the builder (at run time) and the `#[login_config]`
//! macro (at compile time), so both refuse the same values with the same words. They live in the
//! `login-checks` crate, which `login-macros` depends on too; this module re-exports them.

pub use login_checks::{
    COOKIE_PREFIXES, MAX_LEEWAY_SECS, MIN_SECRET_LEN, check_cookie_name, check_cookie_prefix, check_leeway,
    check_secret, check_token_url, cookie_prefix,
};
