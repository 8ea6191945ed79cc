//! Refresh tokens (opt-in, [`UsersBuilder::refresh_tokens`](crate::UsersBuilder::refresh_tokens)),
//! with rotation and reuse detection (OAuth 2.0 Security BCP, RFC 9700 §4.14).
//!
//! - A login on either backend starts a *family*: a random id, the user, the user's session
//!   generation at the login (the one its access token carries, read before the password was
//!   checked) and an absolute expiry, the login plus the refresh lifetime, whatever the rotations.
//! - A refresh token is opaque (256 random bits, 43 base64url characters) and kept only as its
//!   SHA-256 ([`token_id`]). Each use spends it and hands out its successor and a new access
//!   token, in one atomic step of the [`RefreshStore`] (a transaction, or a Redis script): of ten
//!   concurrent refreshes of one token exactly one wins.
//! - **Reuse**: a spent token presented again ends its family: the current refresh token stops
//!   working and every access token issued from the family is deny-listed (until its own `exp`)
//!   in the JWT [`RevocationStore`](crate::RevocationStore). The losers of a concurrent refresh
//!   present a token that was just spent: that counts as reuse too (RFC 9700 makes no exception),
//!   so a client must not refresh one token twice at once.
//!   [`on_refresh_reuse`](crate::UserHooks::on_refresh_reuse) is called, to log or alert.
//! - A logout ends the family of the access token it is given. A password change, a reset, a
//!   deactivation end every family of the user with no extra write: a family is good only while
//!   the user's session generation is still the one it was started under. A deleted (or
//!   inactive) user's families are refused.
//!
//! Access tokens are refused once their family ends because the family records them: the end
//! deny-lists each. So the read path of every request stays as it is (one lookup), and only a
//! family's end pays, once per access token of that family still alive.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::claims;
use crate::claims::now;
use crate::model::User;
use crate::service::{UserError, Users};
use crate::store::StoreError;
pub use crate::store::refresh::{
    Family, IssuedAccess, MemoryRefreshStore, Presented, REFRESH_TOKEN_LEN, RefreshStore, Rotation,
};
use crate::store::refresh::{is_refresh_token, random_token};
use crate::store::revocation::token_id;
use login_runtime::ConfigError;
use login_runtime::Transport;

/// The default absolute lifetime of a family: 30 days from its login.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest lifetime of a family [`UsersBuilder::build`](crate::UsersBuilder::build) accepts:
/// about ten years.
pub const MAX_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(3650 * 24 * 3600);
/// The cookie of the cookie backend's refresh token.
pub const REFRESH_COOKIE_NAME: &str = "fastapiusersrefresh";
/// The only path the refresh cookie is sent to.
pub const REFRESH_COOKIE_PATH: &str = "/auth/cookie/refresh";
/// The refresh settings of a [`Users`].
#[derive(Clone)]
pub(crate) struct RefreshSettings {
    pub store: Arc<dyn RefreshStore>,
    pub lifetime: u64,
}

impl fmt::Debug for RefreshSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshSettings")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// [`UsersBuilder::build`](crate::UsersBuilder::build)'s check of the refresh settings.
pub(crate) fn check_settings(
    settings: &RefreshSettings,
    revocation: bool,
    jwt_on_both_backends: bool,
) -> Result<(), ConfigError> {
    if settings.lifetime == 0 || settings.lifetime > MAX_REFRESH_TOKEN_LIFETIME.as_secs() {
        return Err(ConfigError::new(
            "refresh_token_lifetime",
            format!(
                "the lifetime of a family must be 1 s to {} days, not {} s",
                MAX_REFRESH_TOKEN_LIFETIME.as_secs() / 86_400,
                settings.lifetime
            ),
        ));
    }
    let problem = if !revocation {
        "refresh tokens need JWT revocation (`revocation`): a family's end must be able to refuse \
         the access tokens issued from it"
    } else if !jwt_on_both_backends {
        "refresh tokens need the (revocable) JWT strategy on both backends; a database or Redis \
         strategy keeps sessions of its own"
    } else {
        return Ok(());
    };
    Err(ConfigError::new("refresh_tokens", problem))
}

/// A refresh token handed out: the token and the seconds its family has left.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedRefresh {
    /// The opaque token.
    pub token: String,
    /// Seconds until the family's absolute expiry (the refresh cookie's `Max-Age`).
    pub lifetime_left: u64,
}

impl fmt::Debug for IssuedRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedRefresh")
            .field("token", &"<redacted>")
            .field("lifetime_left", &self.lifetime_left)
            .finish()
    }
}

/// A successful refresh: a new access token and the refresh token that replaces the one spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The new access token (a JWT of the family's session generation).
    pub access_token: String,
    /// Its lifetime in seconds (`expires_in`).
    pub expires_in: u64,
    /// The successor refresh token.
    pub refresh: IssuedRefresh,
}

/// Why a refresh failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshError {
    /// RFC 6749 `invalid_grant`: unknown, malformed, expired, spent or revoked token, or its user
    /// gone, inactive or with ended sessions.
    InvalidGrant,
    /// Refresh tokens are off, or the store failed: 500.
    Internal(UserError),
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidGrant => f.write_str("invalid_grant"),
            Self::Internal(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RefreshError {}

impl From<UserError> for RefreshError {
    fn from(e: UserError) -> Self {
        Self::Internal(e)
    }
}

impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// The record of a new access token: its id and `exp` (now plus the manager's lifetime; one
/// second more, so that the deny-list outlives it whatever the second it was signed in).
fn issued(users: &Users, access_token: &str) -> IssuedAccess {
    IssuedAccess {
        token_id: token_id(access_token),
        expires_at: now()
            .saturating_add(users.manager().expiry().as_secs())
            .saturating_add(1),
    }
}

impl Users {
    /// Whether refresh tokens are on.
    pub fn refresh_enabled(&self) -> bool {
        self.refresh_settings().is_some()
    }

    /// Starts a family for the access token a login just issued (a JWT of the revocable
    /// strategy: its `sub` and `gen` are the family's user and generation); its first refresh
    /// token, or `None` when refresh tokens are off.
    pub async fn start_refresh(&self, access_token: &str) -> Result<Option<IssuedRefresh>, UserError> {
        let Some(settings) = self.refresh_settings() else {
            return Ok(None);
        };
        let claims: claims::AccessIn = self
            .manager()
            .decode_with(access_token, self.manager().validation())
            .map_err(|e| UserError::Internal(Box::new(e)))?;
        let user = Uuid::parse_str(&claims.sub).map_err(|e| UserError::Internal(Box::new(e)))?;
        let family = Family {
            id: random_token(),
            user,
            generation: claims.generation,
            expires_at: now().saturating_add(settings.lifetime),
        };
        let token = random_token();
        settings
            .store
            .start(&family, &token_id(&token), &issued(self, access_token))
            .await?;
        Ok(Some(IssuedRefresh {
            token,
            lifetime_left: settings.lifetime,
        }))
    }

    /// Spends `token` and hands out a new access token (of the backend that reads `from`) and
    /// the token's successor. A spent token ends its family (see the [module](self) doc).
    pub async fn refresh(&self, from: Transport, token: &str) -> Result<Refreshed, RefreshError> {
        let Some(settings) = self.refresh_settings() else {
            return Err(RefreshError::Internal(UserError::Internal(
                "refresh tokens are off".into(),
            )));
        };
        if !is_refresh_token(token) {
            return Err(RefreshError::InvalidGrant);
        }
        let hash = token_id(token);
        let family = match settings.store.find(&hash).await? {
            Presented::Live(family) => family,
            Presented::Spent(family) => {
                self.refresh_reused(&family).await?;
                return Err(RefreshError::InvalidGrant);
            }
            Presented::Unknown | Presented::Ended => return Err(RefreshError::InvalidGrant),
        };
        let now = now();
        if family.expires_at <= now {
            return Err(RefreshError::InvalidGrant);
        }
        let Some(user) = self.get(family.user).await?.filter(|u| u.is_active) else {
            return Err(RefreshError::InvalidGrant);
        };
        // A password change, a reset or a deactivation since the login ended the family.
        if self.session_generation(from, user.id).await? != Some(family.generation) {
            return Err(RefreshError::InvalidGrant);
        }
        let access_token = claims::access_token(self.manager(), &user, Some(family.generation))
            .map_err(|e| UserError::Internal(Box::new(e)))?;
        let access = issued(self, &access_token);
        let next = random_token();
        match settings
            .store
            .rotate(&family, &hash, &token_id(&next), &access)
            .await?
        {
            Rotation::Rotated => {}
            Rotation::Spent => {
                self.refresh_reused(&family).await?;
                return Err(RefreshError::InvalidGrant);
            }
            Rotation::Ended => return Err(RefreshError::InvalidGrant),
        }
        self.hooks().on_after_refresh(&user).await;
        Ok(Refreshed {
            access_token,
            expires_in: self.manager().expiry().as_secs(),
            refresh: IssuedRefresh {
                token: next,
                lifetime_left: family.expires_at.saturating_sub(now),
            },
        })
    }

    /// A spent token came back: ends its family and tells the hooks.
    async fn refresh_reused(&self, family: &Family) -> Result<(), UserError> {
        tracing::warn!(user = %family.user, "a spent refresh token was presented again: its family is ended");
        self.end_refresh_family(&family.id).await?;
        if let Some(user) = self.get(family.user).await? {
            self.hooks().on_refresh_reuse(&user).await;
        }
        Ok(())
    }

    /// Ends a family: its refresh tokens stop working and its access tokens are deny-listed.
    async fn end_refresh_family(&self, family: &str) -> Result<(), UserError> {
        let Some(settings) = self.refresh_settings() else {
            return Ok(());
        };
        let issued = settings.store.revoke(family).await?;
        if let Some(revocations) = self.revocations() {
            for access in issued {
                revocations.revoke(&access.token_id, access.expires_at).await?;
            }
        }
        Ok(())
    }

    /// A logout with `access_token`: ends the family it was issued from, if it is `user`'s.
    pub(crate) async fn log_out_refresh(&self, access_token: &str, user: &User) -> Result<(), UserError> {
        let Some(settings) = self.refresh_settings() else {
            return Ok(());
        };
        match settings.store.family_of_access(&token_id(access_token)).await? {
            Some((family, owner)) if owner == user.id => self.end_refresh_family(&family).await,
            _ => Ok(()),
        }
    }
}
