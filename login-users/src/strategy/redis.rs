//! FastAPI Users' `RedisStrategy`: opaque tokens kept in Redis, on a [`RedisStore`]'s connection.

use std::fmt;

use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::claims::now;
use crate::model::User;
use crate::store::StoreFuture;
use crate::store::redis::{
    GENERATION_PREFIX, RedisStore, TOKEN_PREFIX, USER_TOKENS_PREFIX, backend, generation_key,
};
use crate::strategy::{TokenStrategy, is_opaque_token, opaque_token};
use login_runtime::{Claims, LoginManager};

/// Stores a token if the user's session generation is still the one the login read:
/// `KEYS = [token key, user's index, generation key]`, `ARGV = [user id, lifetime, expiry score,
/// now, generation]`; 1 if stored, 0 if the generation moved on. A script runs atomically, so
/// it cannot interleave with [`END_SESSIONS`].
const WRITE_TOKEN: &str = r"
if tonumber(redis.call('GET', KEYS[3]) or '0') ~= tonumber(ARGV[5]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
";

/// Ends every session of a user: moves the generation on and deletes every token its index
/// lists. `KEYS = [user's index, generation key]`.
const END_SESSIONS: &str = r"
redis.call('INCR', KEYS[2])
local tokens = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #tokens, 500 do
  redis.call('DEL', unpack(tokens, i, math.min(i + 499, #tokens)))
end
redis.call('DEL', KEYS[1])
return #tokens
";

/// Reads a token: its user id and remaining time, and whether it is still good. A token this
/// crate wrote is listed in its user's index (ended sessions are deleted with it); a token
/// FastAPI Users wrote is not, and is good only while the user's sessions were never ended
/// (generation 0), like its JWTs. `KEYS = [token key]`, `ARGV = [index prefix, generation
/// prefix]`; `{user id, ttl}`, or nothing.
const READ_TOKEN: &str = r"
local user = redis.call('GET', KEYS[1])
if not user then return nil end
if not redis.call('ZSCORE', ARGV[1] .. user, KEYS[1]) then
  if tonumber(redis.call('GET', ARGV[2] .. user) or '0') ~= 0 then return nil end
end
return {user, redis.call('TTL', KEYS[1])}
";

/// FastAPI Users' `RedisStrategy(redis, lifetime_seconds, key_prefix="fastapi_users_token:")`:
/// a login makes an opaque token (`secrets.token_urlsafe()`: 32 random bytes, 43 base64url
/// characters) stored as `SET fastapi_users_token:<token> <user id> EX <lifetime>`, the lifetime
/// being the manager's expiry; a request reads it back with `GET`; a logout `DEL`s it. Tokens that
/// FastAPI Users wrote into the same Redis keep working, and the other way round.
///
/// Unlike FastAPI Users, a password change, a reset or a deactivation ends every Redis token of the
/// user: each login also records its key in `fastapi_users_user_tokens:<user id>`, a sorted set
/// scored by the tokens' expiry (entries of expired tokens are pruned on the next login; the set
/// expires with the user's newest token), and [`destroy_all`](TokenStrategy::destroy_all) moves
/// the user's session generation (`fastapi_users_generation:<user id>`) on and deletes every key
/// the index lists, in one script. A login stores its token, in one script too, only if the
/// generation is still the one it read before checking the password, so a login racing the change
/// keeps no session. Tokens FastAPI Users wrote are not in the index: they are good only while the
/// user's sessions were never ended.
///
/// A token that cannot be one (empty, longer than 43 characters, or not base64url) is refused
/// without asking Redis; a Redis failure is an error (500), never a 401.
///
/// ```no_run
/// use std::sync::Arc;
/// use login_users::{MemoryStore, RedisStore, RedisStrategy, Users};
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
            conn: redis.connection(),
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
    fn generation(&self, user: Uuid) -> StoreFuture<'_, Option<u64>> {
        Box::pin(async move {
            let generation: Option<u64> = redis::cmd("GET")
                .arg(generation_key(user))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok(Some(generation.unwrap_or(0)))
        })
    }

    fn write_token<'a>(
        &'a self,
        manager: &'a LoginManager,
        user: &'a User,
        generation: Option<u64>,
    ) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let generation = match generation {
                Some(generation) => generation,
                None => TokenStrategy::generation(self, user.id).await?.unwrap_or(0),
            };
            let token = opaque_token();
            let lifetime = manager.expiry().as_secs().max(1);
            let now = now();
            let stored: i64 = redis::Script::new(WRITE_TOKEN)
                .key(self.key(&token))
                .key(format!("{USER_TOKENS_PREFIX}{}", user.id))
                .key(generation_key(user.id))
                .arg(user.id.to_string())
                .arg(lifetime)
                .arg(now.saturating_add(lifetime))
                .arg(now)
                .arg(generation)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok((stored == 1).then_some(token))
        })
    }

    /// One script, one round trip: the user id, the key's remaining time (the claims' `exp` is
    /// now plus that; now plus the manager's lifetime for a key without expiry), and the check
    /// that the session was not ended.
    fn read_token<'a>(
        &'a self,
        manager: &'a LoginManager,
        token: &'a str,
    ) -> StoreFuture<'a, Option<Claims>> {
        Box::pin(async move {
            if !is_opaque_token(token) {
                return Ok(None);
            }
            let read: Option<(String, i64)> = redis::Script::new(READ_TOKEN)
                .key(self.key(token))
                .arg(USER_TOKENS_PREFIX)
                .arg(GENERATION_PREFIX)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            // FastAPI Users answers an unparsable id with no user, too.
            let Some((id, ttl)) = read.and_then(|(user, ttl)| Some((Uuid::parse_str(&user).ok()?, ttl)))
            else {
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
            redis::Script::new(END_SESSIONS)
                .key(format!("{USER_TOKENS_PREFIX}{}", user.id))
                .key(generation_key(user.id))
                .invoke_async::<i64>(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OPAQUE_TOKEN_LEN;
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
