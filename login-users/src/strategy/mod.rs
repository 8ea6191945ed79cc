//! Token strategies (FastAPI Users' `Strategy`): how a login backend turns a user into a token and
//! back. JWT (stateless, with optional revocation) is built in; a database and a Redis strategy
//! keep opaque tokens. The bearer backend (`/auth/jwt`) and the cookie backend (`/auth/cookie`)
//! each have one.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod database;
#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::sync::Arc;

use uuid::Uuid;

use crate::claims;
use crate::model::User;
use crate::store::revocation::{RevocationStore, token_id};
use crate::store::{StoreError, StoreFuture};
use login_runtime::Claims;
use login_runtime::LoginManager;
use login_runtime::{ReadFuture, TokenRead, TokenReader, Transport};

/// How a backend makes, reads and destroys tokens. Every method gets the access-token manager
/// (keys, audience, lifetime).
///
/// A strategy that can end sessions keeps a per-user *session generation*: a login reads it
/// ([`generation`](Self::generation)) before it checks the password, and
/// [`write_token`](Self::write_token) makes a token that is good only while the generation has not
/// moved on; [`destroy_all`](Self::destroy_all) moves it on. So a change that ends every session
/// (a new password, a reset, a deactivation) also ends the sessions of logins that were still
/// checking the old password when it happened: no time window, whatever the clocks.
pub trait TokenStrategy: Send + Sync + 'static {
    /// The user's session generation, read by a login before it checks the password; `None`
    /// for a strategy that keeps no sessions (stateless JWTs).
    fn generation(&self, user: Uuid) -> StoreFuture<'_, Option<u64>>;
    /// A new token for `user`, good while the user's session generation is `generation` (as
    /// [`generation`](Self::generation) returned it); `None` if it has moved on since (the login
    /// lost a race with a change that ended every session).
    fn write_token<'a>(
        &'a self,
        manager: &'a LoginManager,
        user: &'a User,
        generation: Option<u64>,
    ) -> StoreFuture<'a, Option<String>>;
    /// The claims of a good token (`sub` is the user id); `None` for any other.
    fn read_token<'a>(&'a self, manager: &'a LoginManager, token: &'a str)
    -> StoreFuture<'a, Option<Claims>>;
    /// [`read_token`](Self::read_token), and the user when the strategy loads it in the same lookup
    /// (the extractor then skips the user loader). By default, no user.
    fn read_token_and_user<'a>(
        &'a self,
        manager: &'a LoginManager,
        token: &'a str,
    ) -> StoreFuture<'a, Option<(Claims, Option<User>)>> {
        Box::pin(async move {
            Ok(self
                .read_token(manager, token)
                .await?
                .map(|claims| (claims, None)))
        })
    }
    /// Logs `token` out.
    fn destroy_token<'a>(&'a self, manager: &'a LoginManager, token: &'a str) -> StoreFuture<'a, ()>;
    /// Ends every session of `user`: every token written before is refused from the moment this
    /// returns (a password change, a reset, a deactivation).
    fn destroy_all<'a>(&'a self, user: &'a User) -> StoreFuture<'a, ()>;
}

/// FastAPI Users' JWT strategy: `{"sub", "aud": ["fastapi-users:auth"], "exp"}`, HS256, plus `iat`
/// and a random `jti` (every login its own token). With a [`RevocationStore`], logout and the
/// changes that end sessions take effect (one lookup per request, joined with the user row where
/// the store keeps users) and tokens carry the user's session generation `gen`; without, a token
/// lives until its `exp`, as in FastAPI Users.
pub struct JwtStrategy {
    revocations: Option<Arc<dyn RevocationStore>>,
}

impl JwtStrategy {
    /// Stateless: nothing to look up, nothing revoked.
    pub fn stateless() -> Self {
        Self { revocations: None }
    }

    /// With revocation kept in `store`.
    pub fn revocable(store: Arc<dyn RevocationStore>) -> Self {
        Self {
            revocations: Some(store),
        }
    }
}

impl TokenStrategy for JwtStrategy {
    fn generation(&self, user: Uuid) -> StoreFuture<'_, Option<u64>> {
        Box::pin(async move {
            match &self.revocations {
                Some(revocations) => Ok(Some(revocations.generation(user).await?)),
                None => Ok(None),
            }
        })
    }

    /// The generation is written into the token (`gen`) and checked when it is read: nothing to
    /// store.
    fn write_token<'a>(
        &'a self,
        manager: &'a LoginManager,
        user: &'a User,
        generation: Option<u64>,
    ) -> StoreFuture<'a, Option<String>> {
        let generation = self.revocations.as_ref().and(generation);
        let token = claims::access_token(manager, user, generation)
            .map(Some)
            .map_err(|e| StoreError::Backend(Box::new(e)));
        Box::pin(async move { token })
    }

    fn read_token<'a>(
        &'a self,
        manager: &'a LoginManager,
        token: &'a str,
    ) -> StoreFuture<'a, Option<Claims>> {
        Box::pin(async move {
            Ok(self
                .read_token_and_user(manager, token)
                .await?
                .map(|(claims, _)| claims))
        })
    }

    /// With revocation on, the token's status comes with the user row in one lookup where the
    /// store can join them (SQLite, PostgreSQL): no round trip beyond the one the user costs.
    fn read_token_and_user<'a>(
        &'a self,
        manager: &'a LoginManager,
        token: &'a str,
    ) -> StoreFuture<'a, Option<(Claims, Option<User>)>> {
        let Some(revocations) = &self.revocations else {
            let claims = manager.decode(token).ok();
            return Box::pin(async move { Ok(claims.map(|claims| (claims, None))) });
        };
        let read = manager
            .decode_with::<claims::AccessIn>(token, manager.validation())
            .ok();
        Box::pin(async move {
            let Some(read) = read else { return Ok(None) };
            let Ok(user) = Uuid::parse_str(&read.sub) else {
                return Ok(None);
            };
            let (status, user) = revocations.status_with_user(&token_id(token), user).await?;
            // FastAPI Users' tokens carry no generation: 0, good until the first change.
            if status.revoked || status.generation != read.generation {
                return Ok(None);
            }
            Ok(Some((read.into_claims(), user)))
        })
    }

    fn destroy_token<'a>(&'a self, manager: &'a LoginManager, token: &'a str) -> StoreFuture<'a, ()> {
        let exp = manager.decode(token).map(|c| c.exp);
        Box::pin(async move {
            match (&self.revocations, exp) {
                (Some(revocations), Ok(exp)) => revocations.revoke(&token_id(token), exp).await,
                _ => Ok(()),
            }
        })
    }

    fn destroy_all<'a>(&'a self, user: &'a User) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match &self.revocations {
                Some(revocations) => revocations.end_sessions(user.id).await,
                None => Ok(()),
            }
        })
    }
}

/// The length of an opaque token: 32 random bytes in unpadded base64url, as Python's
/// `secrets.token_urlsafe()` makes them for FastAPI Users' database and Redis strategies.
pub const OPAQUE_TOKEN_LEN: usize = 43;

/// A new opaque token (32 bytes from the OS-seeded thread generator).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn opaque_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Whether `token` could be an opaque token (unpadded base64url, at most 43 characters): anything
/// else is refused without a lookup.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn is_opaque_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= OPAQUE_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The manager's token reader: the bearer backend's strategy for the header, the cookie
/// backend's for the cookie.
pub(crate) struct Backends {
    pub bearer: Arc<dyn TokenStrategy>,
    pub cookie: Arc<dyn TokenStrategy>,
}

impl Backends {
    pub(crate) fn of(&self, from: Transport) -> &dyn TokenStrategy {
        match from {
            Transport::Header => self.bearer.as_ref(),
            Transport::Cookie => self.cookie.as_ref(),
        }
    }
}

impl TokenReader for Backends {
    fn read<'a>(&'a self, manager: &'a LoginManager, token: &'a str, from: Transport) -> ReadFuture<'a> {
        Box::pin(async move {
            let read = self.of(from).read_token_and_user(manager, token).await?;
            Ok(read.map(|(claims, user)| match user {
                Some(user) => TokenRead::from(claims).with_user(user),
                None => TokenRead::from(claims),
            }))
        })
    }
}
