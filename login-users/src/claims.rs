//! FastAPI Users' three token kinds, each refused where another is expected: access
//! (`aud: ["fastapi-users:auth"]`), reset (`aud: "fastapi-users:reset"`, with the password
//! fingerprint) and verify (`aud: "fastapi-users:verify"`, with the email).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::User;
use login_runtime::LoginManager;
use login_runtime::{AudienceClaim, Claims, StringClaim, TimedClaims, TokenError};

/// Seconds since 1970-01-01 UTC (0 on a clock set before it).
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The audience of access tokens.
pub const AUTH_AUDIENCE: &str = "fastapi-users:auth";
/// The audience of reset-password tokens.
pub const RESET_AUDIENCE: &str = "fastapi-users:reset";
/// The audience of verify tokens.
pub const VERIFY_AUDIENCE: &str = "fastapi-users:verify";

/// An access token as written: FastAPI Users' claims (`sub`, `aud`, `exp`), which FastAPI Users
/// and PyJWT read, then ours, which they ignore: `iat`, a random `jti` (so that two logins in one
/// millisecond get two tokens, each its own session) and, with revocation, the user's session
/// generation `gen`.
#[derive(Serialize)]
pub(crate) struct AccessClaims<'a> {
    pub sub: String,
    pub aud: [&'a str; 1],
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#gen: Option<u64>,
}

/// An access token as read: the core's [`Claims`] checks (`scopes`, `iss` and `aud` shapes), and
/// the session generation, absent (0) in FastAPI Users' tokens.
#[derive(Deserialize)]
pub(crate) struct AccessIn {
    pub sub: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default, rename = "iss")]
    _iss: StringClaim,
    #[serde(default, rename = "aud")]
    _aud: AudienceClaim,
    #[serde(default, rename = "gen")]
    pub generation: u64,
}

impl TimedClaims for AccessIn {
    fn iat(&self) -> Option<u64> {
        self.iat
    }

    fn exp(&self) -> Option<u64> {
        Some(self.exp)
    }
}

impl AccessIn {
    /// The core's claims of this token.
    pub(crate) fn into_claims(self) -> Claims {
        let mut claims = Claims::new(self.sub, self.exp);
        claims.iat = self.iat;
        claims.nbf = self.nbf;
        claims.scopes = self.scopes;
        claims
    }
}

/// A reset token: FastAPI Users' claims, and the address it was mailed to (FastAPI Users ignores
/// it; here a token dies when the user's email changes).
#[derive(Serialize)]
pub(crate) struct ResetOut<'a> {
    pub sub: String,
    pub password_fgpt: &'a str,
    pub email: &'a str,
    pub aud: &'a str,
    pub exp: u64,
}

#[derive(Serialize)]
pub(crate) struct VerifyOut<'a> {
    pub sub: String,
    pub email: &'a str,
    pub aud: &'a str,
    pub exp: u64,
}

#[derive(Deserialize)]
pub(crate) struct ResetIn {
    pub sub: String,
    pub password_fgpt: String,
    /// Absent from FastAPI Users' reset tokens.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub iat: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct VerifyIn {
    pub sub: String,
    pub email: String,
    #[serde(default)]
    pub iat: Option<u64>,
}

impl TimedClaims for ResetIn {
    fn iat(&self) -> Option<u64> {
        self.iat
    }
}

impl TimedClaims for VerifyIn {
    fn iat(&self) -> Option<u64> {
        self.iat
    }
}

/// An access token for `user`, issued under session `generation` (`None`: stateless, no `gen`).
pub(crate) fn access_token(
    manager: &LoginManager,
    user: &User,
    generation: Option<u64>,
) -> Result<String, TokenError> {
    let iat = now();
    let claims = AccessClaims {
        sub: user.id.to_string(),
        aud: [AUTH_AUDIENCE],
        exp: iat.saturating_add(manager.expiry().as_secs()),
        iat,
        jti: token_id(),
        r#gen: generation,
    };
    manager.encode_claims(&claims)
}

/// A token id: 128 random bits (from the OS-seeded thread generator), unpadded base64url.
fn token_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

pub(crate) fn expires(lifetime_secs: u64) -> u64 {
    now().saturating_add(lifetime_secs)
}

/// The subject of a reset or verify token as a user id.
pub(crate) fn subject_id(sub: &str) -> Result<Uuid, TokenError> {
    Uuid::parse_str(sub).map_err(|_| TokenError::Jwt(jsonwebtoken::errors::ErrorKind::InvalidSubject.into()))
}
