//! The checks on literal settings, shared by `login-runtime`'s builder (at run time) and its
//! `#[login_config]` macro in `login-macros` (at compile time), so both refuse the same values with
//! the same words. Like Rocket's codegen depending on `rocket_http`, the two crates share this one
//! implementation through a crate. It has no dependencies beyond std; keep it that way.
//!
//! Depend on `login-runtime` rather than on this crate: its items are an implementation detail.
//!
//! ```
//! assert!(login_checks::check_secret(&[7u8; 32]).is_ok());
//! assert!(login_checks::check_leeway(601).is_err());
//! assert_eq!(login_checks::cookie_prefix("__host-id"), Some("__Host-"));
//! ```

/// The shortest HMAC secret accepted, in bytes (RFC 7518 §3.2: a key at least as long as the hash).
pub const MIN_SECRET_LEN: usize = 32;

/// The largest clock skew accepted, in seconds: 10 minutes.
pub const MAX_LEEWAY_SECS: u64 = 600;

/// A leeway is at most [`MAX_LEEWAY_SECS`].
pub fn check_leeway(secs: u64) -> Result<(), String> {
    if secs > MAX_LEEWAY_SECS {
        return Err(format!(
            "{secs}s is more clock skew than a synchronised clock has; at most {MAX_LEEWAY_SECS}s"
        ));
    }
    Ok(())
}

/// An HMAC secret has at least [`MIN_SECRET_LEN`] bytes.
pub fn check_secret(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!(
            "an HMAC secret must be at least {MIN_SECRET_LEN} bytes, got {}; make one with \
             `openssl rand -hex 32`",
            secret.len()
        ));
    }
    Ok(())
}

/// A token URL is a path (`/auth/token`) or an absolute http(s) URL, with no white space.
pub fn check_token_url(url: &str) -> Result<(), String> {
    let ok_start = url.starts_with('/') || url.starts_with("https://") || url.starts_with("http://");
    if !ok_start {
        return Err(format!(
            "`{url}` is not a path starting with `/` or an http(s) URL"
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{url}` contains white space or control characters"));
    }
    Ok(())
}

/// A cookie name is an RFC 6265 / RFC 9110 token: visible ASCII without separators.
pub fn check_cookie_name(name: &str) -> Result<(), String> {
    const SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={} \t";
    if name.is_empty() {
        return Err("a cookie name cannot be empty".to_owned());
    }
    if let Some(bad) = name
        .bytes()
        .find(|b| !b.is_ascii_graphic() || SEPARATORS.contains(b))
    {
        return Err(format!(
            "`{name}` is not a valid cookie name: `{}` is not allowed (use letters, digits and `-_.`)",
            bad.escape_ascii()
        ));
    }
    Ok(())
}

/// The cookie name prefixes browsers give a meaning to (RFC 6265bis §4.1.3), matched without
/// regard to case as browsers do: a `__Secure-` cookie is kept only with `Secure`; a `__Host-`
/// cookie only with `Secure`, `Path=/` and no `Domain`.
pub const COOKIE_PREFIXES: [&str; 2] = ["__Host-", "__Secure-"];

/// The browser prefix `name` starts with, if any ([`COOKIE_PREFIXES`]).
pub fn cookie_prefix(name: &str) -> Option<&'static str> {
    COOKIE_PREFIXES.into_iter().find(|p| {
        name.get(..p.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(p))
    })
}

/// A `__Host-` or `__Secure-` cookie is written with `Secure`: browsers drop it otherwise, so no
/// login would ever stick.
pub fn check_cookie_prefix(name: &str, secure: bool) -> Result<(), String> {
    match cookie_prefix(name) {
        Some(prefix) if !secure => Err(format!(
            "the cookie `{name}` starts with `{prefix}`, which browsers keep only when it is \
             `Secure`: keep secure cookies on (browsers treat http://localhost as secure), or \
             choose a name without the prefix"
        )),
        _ => Ok(()),
    }
}
