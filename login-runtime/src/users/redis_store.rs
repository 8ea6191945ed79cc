//! Redis (feature `redis`): FastAPI Users' `RedisStrategy` (opaque tokens kept in Redis) and a
//! [`RevocationStore`] for JWTs, both over one [`RedisStore`] connection that every instance
//! behind a load balancer points at.
//!
//! Keys (default prefixes, all in the connection's database):
//!
//! | key                                   | value            | expiry                       |
//! |---------------------------------------|------------------|------------------------------|
//! | `fastapi_users_token:<token>`         | user id (UUID)   | the manager's lifetime       |
//! | `fastapi_users_user_tokens:<uuid>`    | sorted set: token keys, scored by their expiry | the newest token's |
//! | `fastapi_users_revoked:<token id>`    | `1`              | the JWT's `exp` (+ leeway)   |
//! | `fastapi_users_not_before:<uuid>`     | seconds since the epoch | the store's lifetime (+ leeway) |

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use uuid::Uuid;

use super::model::User;
use super::revocation::{RevocationStore, TokenStatus};
use super::service::TOKEN_LIFETIME;
use super::store::{StoreError, StoreFuture};
use super::strategy::{TokenStrategy, is_opaque_token, opaque_token};
use crate::checks::MAX_LEEWAY_SECS;
use crate::config::ConfigError;
use crate::manager::LoginManager;
use crate::token::{Claims, now};

/// FastAPI Users' key prefix of Redis tokens.
const TOKEN_PREFIX: &str = "fastapi_users_token:";
/// The per-user index of Redis tokens (not in FastAPI Users).
const USER_TOKENS_PREFIX: &str = "fastapi_users_user_tokens:";
/// Deny-listed JWTs, by [`token_id`](super::token_id).
const REVOKED_PREFIX: &str = "fastapi_users_revoked:";
/// Per-user "not before" times of JWTs.
const NOT_BEFORE_PREFIX: &str = "fastapi_users_not_before:";
/// A Redis connection (auto-reconnecting, multiplexed, cheap to clone) and a JWT
/// [`RevocationStore`] on it. Share one Redis between all instances: a logout or password change
/// on one is seen by the others on their next request.
///
/// A revoked JWT is kept under `fastapi_users_revoked:<sha256 of the token>` until its `exp`; a
/// password change or reset writes `fastapi_users_not_before:<user id>`, which only has to outlive
/// the tokens issued before it, so it expires after the store's [`lifetime`](Self::lifetime)
/// (default [`TOKEN_LIFETIME`], the lifetime of [`Users`](super::Users)' tokens; set the same value
/// on both if you change it). Both expiries get [`MAX_LEEWAY`](crate::MAX_LEEWAY) on top, for any
/// leeway the manager allows. Reading a token's status is one `MGET`.
///
/// ```no_run
/// use std::sync::Arc;
/// use login_runtime::users::{MemoryStore, RedisStore, RedisStrategy, Users};
///
/// # async fn run() -> Result<(), login_runtime::ConfigError> {
/// let redis = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// // JWTs on the bearer backend, revocable through Redis; opaque Redis tokens in the cookie.
/// let users = Users::builder(Arc::new(MemoryStore::default()))
///     .revocation(Arc::new(redis.clone()))
///     .cookie_strategy(Arc::new(RedisStrategy::new(redis)))
///     .secret("a secret of at least thirty-two bytes!")
///     .build()?;
/// # let _ = users;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    lifetime: Duration,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host[:port][/db]`, `rediss://…`, `redis+unix://…`)
    /// and checks that the server answers `PING`. The error names `REDIS_URL`.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        let client = redis::Client::open(url)
            .map_err(|e| ConfigError::new("REDIS_URL", format!("not a Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2);
        let unreachable = |e: redis::RedisError| {
            ConfigError::new("REDIS_URL", format!("the Redis server does not answer: {e}"))
        };
        let mut conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unreachable)?;
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(unreachable)?;
        Ok(Self {
            conn,
            lifetime: TOKEN_LIFETIME,
        })
    }

    /// The longest lifetime of the JWTs this store revokes (default [`TOKEN_LIFETIME`]): how long
    /// a user's "not before" time is kept. Set it to what you gave
    /// [`UsersBuilder::lifetime`](super::UsersBuilder::lifetime), or longer.
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The connection, for commands of your own.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// A Redis failure: answered 500 and logged, never taken for a bad token.
fn backend(e: redis::RedisError) -> StoreError {
    StoreError::Backend(Box::new(e))
}

impl RevocationStore for RedisStore {
    fn revoke<'a>(&'a self, token_id: &'a str, until: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // Kept past `exp` by the largest leeway a manager may allow.
            let remaining = until.saturating_add(MAX_LEEWAY_SECS).saturating_sub(now());
            if remaining == 0 {
                return Ok(());
            }
            redis::cmd("SET")
                .arg(format!("{REVOKED_PREFIX}{token_id}"))
                .arg(1)
                .arg("EX")
                .arg(remaining)
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(backend)
        })
    }

    fn revoke_before(&self, user: Uuid, at: u64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            // Tokens issued before `at` are dead `lifetime` (+ leeway) after it anyway.
            let keep = self.lifetime.as_secs().max(1).saturating_add(MAX_LEEWAY_SECS);
            redis::cmd("SET")
                .arg(format!("{NOT_BEFORE_PREFIX}{user}"))
                .arg(at)
                .arg("EX")
                .arg(keep)
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(backend)
        })
    }

    fn status<'a>(&'a self, token_id: &'a str, user: Uuid) -> StoreFuture<'a, TokenStatus> {
        Box::pin(async move {
            let (revoked, not_before): (Option<String>, Option<u64>) = redis::cmd("MGET")
                .arg(format!("{REVOKED_PREFIX}{token_id}"))
                .arg(format!("{NOT_BEFORE_PREFIX}{user}"))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok(TokenStatus {
                revoked: revoked.is_some(),
                not_before,
            })
        })
    }
}

/// FastAPI Users' `RedisStrategy(redis, lifetime_seconds, key_prefix="fastapi_users_token:")`:
/// a login makes an opaque token (`secrets.token_urlsafe()`: 32 random bytes, 43 base64url
/// characters) stored as `SET fastapi_users_token:<token> <user id> EX <lifetime>`, the lifetime
/// being the manager's expiry; a request reads it back with `GET`; a logout `DEL`s it. Tokens that
/// FastAPI Users wrote into the same Redis keep working, and the other way round.
///
/// Unlike FastAPI Users, a password change or reset kills every Redis token of the user: each
/// login also records its key in `fastapi_users_user_tokens:<user id>`, a sorted set scored by the
/// tokens' expiry (entries of expired tokens are pruned on the next login; the set expires with
/// the user's newest token), and [`destroy_all`](TokenStrategy::destroy_all) deletes every key it
/// lists. Tokens FastAPI Users wrote are not in that index and live until they expire.
///
/// A token that cannot be one (empty, longer than 43 characters, or not base64url) is refused
/// without asking Redis; a Redis failure is an error (500), never a 401.
///
/// ```no_run
/// use std::sync::Arc;
/// use login_runtime::users::{MemoryStore, RedisStore, RedisStrategy, Users};
///
/// # async fn run() -> Result<(), login_runtime::ConfigError> {
/// let redis = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let strategy = Arc::new(RedisStrategy::new(redis));
/// let users = Users::builder(Arc::new(MemoryStore::default()))
///     .bearer_strategy(strategy.clone())
///     .cookie_strategy(strategy)
///     .secret("a secret of at least thirty-two bytes!")
///     .build()?;
/// # let _ = users;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStrategy {
    conn: ConnectionManager,
    key_prefix: String,
}

impl fmt::Debug for RedisStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStrategy")
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStrategy {
    /// Tokens kept on `redis`'s connection under FastAPI Users' prefix `fastapi_users_token:`.
    pub fn new(redis: RedisStore) -> Self {
        Self {
            conn: redis.conn,
            key_prefix: TOKEN_PREFIX.to_owned(),
        }
    }

    /// Another key prefix (FastAPI Users' `key_prefix`).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    fn key(&self, token: &str) -> String {
        format!("{}{token}", self.key_prefix)
    }
}

impl TokenStrategy for RedisStrategy {
    fn write_token<'a>(&'a self, manager: &'a LoginManager, user: &'a User) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let token = opaque_token();
            let key = self.key(&token);
            let lifetime = manager.expiry().as_secs().max(1);
            let now = now();
            let index = format!("{USER_TOKENS_PREFIX}{}", user.id);
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&key)
                .arg(user.id.to_string())
                .arg("EX")
                .arg(lifetime)
                .ignore()
                .cmd("ZREMRANGEBYSCORE")
                .arg(&index)
                .arg("-inf")
                .arg(now)
                .ignore()
                .cmd("ZADD")
                .arg(&index)
                .arg(now.saturating_add(lifetime))
                .arg(&key)
                .ignore()
                .cmd("EXPIRE")
                .arg(&index)
                .arg(lifetime)
                .ignore()
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok(token)
        })
    }

    /// `GET` and `TTL` in one round trip: the claims' `exp` is now plus the key's remaining time
    /// (now plus the manager's lifetime for a key without expiry).
    fn read_token<'a>(
        &'a self,
        manager: &'a LoginManager,
        token: &'a str,
    ) -> StoreFuture<'a, Option<Claims>> {
        Box::pin(async move {
            if !is_opaque_token(token) {
                return Ok(None);
            }
            let key = self.key(token);
            let (user, ttl): (Option<String>, i64) = redis::pipe()
                .cmd("GET")
                .arg(&key)
                .cmd("TTL")
                .arg(&key)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            // FastAPI Users answers an unparsable id with no user, too.
            let Some(id) = user.and_then(|u| Uuid::parse_str(&u).ok()) else {
                return Ok(None);
            };
            let remaining = u64::try_from(ttl)
                .ok()
                .filter(|t| *t > 0)
                .unwrap_or_else(|| manager.expiry().as_secs());
            Ok(Some(Claims::new(id.to_string(), now().saturating_add(remaining))))
        })
    }

    fn destroy_token<'a>(&'a self, _manager: &'a LoginManager, token: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if !is_opaque_token(token) {
                return Ok(());
            }
            // Its entry in the user's index goes on the next login, or with the index.
            redis::cmd("DEL")
                .arg(self.key(token))
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(backend)
        })
    }

    fn destroy_all<'a>(&'a self, user: &'a User) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let index = format!("{USER_TOKENS_PREFIX}{}", user.id);
            let mut conn = self.conn.clone();
            let keys: Vec<String> = redis::cmd("ZRANGE")
                .arg(&index)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            if keys.is_empty() {
                return Ok(());
            }
            // `ZREM` of what was read rather than `DEL` of the index: a token written meanwhile
            // (a login with the new password) stays listed.
            redis::pipe()
                .atomic()
                .cmd("DEL")
                .arg(&keys)
                .ignore()
                .cmd("ZREM")
                .arg(&index)
                .arg(&keys)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(backend)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::OPAQUE_TOKEN_LEN;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn only_base64url_tokens_up_to_43_chars_are_is_opaque_token() {
        let token = URL_SAFE_NO_PAD.encode([0xfb_u8; 32]);
        assert_eq!(token.len(), OPAQUE_TOKEN_LEN);
        assert!(is_opaque_token(&token));
        assert!(is_opaque_token("abc-_XYZ019"));
        assert!(!is_opaque_token(""));
        assert!(!is_opaque_token(&format!("{token}A")));
        assert!(!is_opaque_token("abc+/"));
        assert!(!is_opaque_token("abc="));
        assert!(!is_opaque_token("key:*"));
        assert!(!is_opaque_token("tökén"));
    }
}
