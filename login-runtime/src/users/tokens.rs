//! FastAPI Users' three token kinds, each refused where another is expected: access
//! (`aud: ["fastapi-users:auth"]`), reset (`aud: "fastapi-users:reset"`, with the password
//! fingerprint) and verify (`aud: "fastapi-users:verify"`, with the email).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::User;
use crate::manager::LoginManager;
use crate::token::{HasIat, TokenError, now};

/// The audience of access tokens.
pub const AUTH_AUDIENCE: &str = "fastapi-users:auth";
/// The audience of reset-password tokens.
pub const RESET_AUDIENCE: &str = "fastapi-users:reset";
/// The audience of verify tokens.
pub const VERIFY_AUDIENCE: &str = "fastapi-users:verify";

#[derive(Serialize)]
pub(crate) struct AccessClaims<'a> {
    pub sub: String,
    pub aud: [&'a str; 1],
    pub exp: u64,
}

#[derive(Serialize)]
pub(crate) struct ResetOut<'a> {
    pub sub: String,
    pub password_fgpt: &'a str,
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

impl HasIat for ResetIn {
    fn iat(&self) -> Option<u64> {
        self.iat
    }
}

impl HasIat for VerifyIn {
    fn iat(&self) -> Option<u64> {
        self.iat
    }
}

/// FastAPI Users' access token for `user`: `{"sub", "aud": ["fastapi-users:auth"], "exp"}`.
pub(crate) fn access_token(manager: &LoginManager, user: &User) -> Result<String, TokenError> {
    let claims = AccessClaims {
        sub: user.id.to_string(),
        aud: [AUTH_AUDIENCE],
        exp: expires(manager.expiry().as_secs()),
    };
    manager.encode_claims(&claims)
}

pub(crate) fn expires(lifetime_secs: u64) -> u64 {
    now().saturating_add(lifetime_secs)
}

/// The subject of a reset or verify token as a user id.
pub(crate) fn subject_id(sub: &str) -> Result<Uuid, TokenError> {
    Uuid::parse_str(sub).map_err(|_| TokenError::Jwt(jsonwebtoken::errors::ErrorKind::InvalidSubject.into()))
}
