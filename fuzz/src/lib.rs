//! What the fuzz targets share: the managers, an independent signature check, the input format
//! of the header targets, and the in-memory user loader of the `extract` target.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use login_runtime::LoginManager;
use sha2::Sha256;

/// The HS256 key of every manager here (the seed tokens in `corpus/` are signed with it).
pub const SECRET: &[u8] = b"fuzzing-secret-of-at-least-32-bytes!";

/// The cookie the cookie-reading managers use.
pub const COOKIE: &str = "access-token";

/// The issuer and audience of [`strict`].
pub const ISSUER: &str = "fuzz-issuer";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "fuzz-audience";

/// Defaults: HS256, header only, no issuer or audience.
pub fn plain() -> &'static LoginManager {
    static M: OnceLock<LoginManager> = OnceLock::new();
    M.get_or_init(|| {
        LoginManager::builder()
            .secret(SECRET)
            .build()
            .expect("valid config")
    })
}

/// HS256 with an issuer and an audience.
pub fn strict() -> &'static LoginManager {
    static M: OnceLock<LoginManager> = OnceLock::new();
    M.get_or_init(|| {
        LoginManager::builder()
            .secret(SECRET)
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .expect("valid config")
    })
}

/// HS256 reading the bearer header, then the `access-token` cookie.
pub fn both() -> &'static LoginManager {
    static M: OnceLock<LoginManager> = OnceLock::new();
    M.get_or_init(|| {
        LoginManager::builder()
            .secret(SECRET)
            .cookie(COOKIE)
            .build()
            .expect("valid config")
    })
}

/// HS256 reading the `access-token` cookie only.
pub fn cookie_only() -> &'static LoginManager {
    static M: OnceLock<LoginManager> = OnceLock::new();
    M.get_or_init(|| {
        LoginManager::builder()
            .secret(SECRET)
            .header(false)
            .cookie(COOKIE)
            .build()
            .expect("valid config")
    })
}

/// Whether `token` is `header.payload.signature` with the HS256 signature [`SECRET`] gives, checked
/// with `hmac` directly rather than through jsonwebtoken: the oracle for "the manager signed it".
pub fn signed_by_us(token: &str) -> bool {
    let Some((message, signature)) = token.rsplit_once('.') else {
        return false;
    };
    if message.split('.').count() != 2 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("any key length");
    mac.update(message.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()) == signature
}

/// The input format of the `header` and `extract` targets, so that seeds are plain text:
/// the first line is the `Authorization` value (absent when empty), each further line one
/// `Cookie` header. `\n` cannot occur in a header value, so nothing is lost.
pub fn split_lines(data: &[u8]) -> (Option<&[u8]>, Vec<&[u8]>) {
    let mut lines = data.split(|&b| b == b'\n');
    let auth = lines.next().filter(|l| !l.is_empty());
    (auth, lines.collect())
}

/// Whether `needle` lies inside `haystack`'s memory (a borrowed sub-slice, not merely equal text).
pub fn borrowed_from(needle: &str, haystack: &[u8]) -> bool {
    let (start, end) = (
        haystack.as_ptr() as usize,
        haystack.as_ptr() as usize + haystack.len(),
    );
    let (n_start, n_end) = (needle.as_ptr() as usize, needle.as_ptr() as usize + needle.len());
    start <= n_start && n_end <= end
}

/// The users of the `extract` target's in-memory store.
pub const USERS: &[&str] = &["ann", "bob@e.mail"];

/// A user of the `extract` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The subject it was loaded for.
    pub name: String,
}

/// The in-memory user store.
#[login_runtime::user_loader]
async fn load_user(name: &str) -> Option<User> {
    USERS.contains(&name).then(|| User {
        name: name.to_owned(),
    })
}
