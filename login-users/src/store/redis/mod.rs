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
//! | `fastapi_users_generation:<uuid>`     | the user's session generation | none (as long as Redis keeps it) |

mod refresh;

pub use refresh::RedisRefreshStore;

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use uuid::Uuid;

use crate::claims::now;
use crate::store::revocation::{RevocationStore, TokenStatus};
use crate::store::{StoreError, StoreFuture};
use login_checks::MAX_LEEWAY_SECS;
use login_runtime::ConfigError;

/// FastAPI Users' key prefix of Redis tokens.
pub(crate) const TOKEN_PREFIX: &str = "fastapi_users_token:";
/// The per-user index of Redis tokens (not in FastAPI Users).
pub(crate) const USER_TOKENS_PREFIX: &str = "fastapi_users_user_tokens:";
/// Deny-listed JWTs, by [`token_id`](super::token_id).
const REVOKED_PREFIX: &str = "fastapi_users_revoked:";
/// Per-user session generations (see [`RevocationStore::end_sessions`]).
pub(crate) const GENERATION_PREFIX: &str = "fastapi_users_generation:";
/// A Redis connection (auto-reconnecting, multiplexed, cheap to clone) and a JWT
/// [`RevocationStore`] on it. Share one Redis between all instances: a logout or password change
/// on one is seen by the others on their next request.
///
/// A revoked JWT is kept under `fastapi_users_revoked:<sha256 of the token>` until its `exp` (plus
/// [`MAX_LEEWAY`](login_runtime::MAX_LEEWAY), for any leeway the manager allows); a password change, a
/// reset or a deactivation `INCR`s `fastapi_users_generation:<user id>`, which never expires: a
/// FastAPI Users token of any lifetime is refused after the change. Reading a token's status is
/// one `MGET`. Configure Redis not to evict these keys (`maxmemory-policy noeviction`, the
/// default): an evicted generation would bring ended sessions back.
///
/// ```no_run
/// use std::sync::Arc;
/// use login_users::{MemoryStore, RedisStore, RedisStrategy, Users};
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
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
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
        Ok(Self { conn })
    }

    /// The connection, for commands of your own.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// A Redis failure: answered 500 and logged, never taken for a bad token.
pub(crate) fn backend(e: redis::RedisError) -> StoreError {
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

    fn generation(&self, user: Uuid) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let generation: Option<u64> = redis::cmd("GET")
                .arg(generation_key(user))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok(generation.unwrap_or(0))
        })
    }

    fn end_sessions(&self, user: Uuid) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            redis::cmd("INCR")
                .arg(generation_key(user))
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(backend)
        })
    }

    fn status<'a>(&'a self, token_id: &'a str, user: Uuid) -> StoreFuture<'a, TokenStatus> {
        Box::pin(async move {
            let (revoked, generation): (Option<String>, Option<u64>) = redis::cmd("MGET")
                .arg(format!("{REVOKED_PREFIX}{token_id}"))
                .arg(generation_key(user))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok(TokenStatus {
                revoked: revoked.is_some(),
                generation: generation.unwrap_or(0),
            })
        })
    }
}

pub(crate) fn generation_key(user: Uuid) -> String {
    format!("{GENERATION_PREFIX}{user}")
}
