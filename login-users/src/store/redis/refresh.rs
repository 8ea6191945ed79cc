//! Refresh-token families in Redis (feature `redis`).
//!
//! | key                                         | value                                  | expiry           |
//! |---------------------------------------------|----------------------------------------|------------------|
//! | `fastapi_users_refresh:<token hash>`        | hash `family`, `spent`                 | the family's end |
//! | `fastapi_users_refresh_family:<family>`     | hash `user`, `gen`, `exp`, `revoked`   | the family's end |
//! | `fastapi_users_refresh_access:<family>`     | sorted set: access token ids by `exp`  | the family's end |
//! | `fastapi_users_refresh_by_access:<access id>` | the family id                        | the access token's `exp` |

use std::fmt;

use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::claims::now;
use crate::store::redis::RedisStore;
use crate::store::refresh::{Family, IssuedAccess, Presented, RefreshStore, Rotation};
use crate::store::{StoreError, StoreFuture};

const TOKEN_PREFIX: &str = "fastapi_users_refresh:";
const FAMILY_PREFIX: &str = "fastapi_users_refresh_family:";
const ACCESS_PREFIX: &str = "fastapi_users_refresh_access:";
const BY_ACCESS_PREFIX: &str = "fastapi_users_refresh_by_access:";

/// A new family. `KEYS = [family, token, access set, by-access]`, `ARGV = [user, generation,
/// expiry, family id, access id, access expiry]`.
const START: &str = r"
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'gen', ARGV[2], 'exp', ARGV[3], 'revoked', '0')
redis.call('EXPIREAT', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], 'family', ARGV[4], 'spent', '0')
redis.call('EXPIREAT', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
redis.call('EXPIREAT', KEYS[3], ARGV[3])
redis.call('SET', KEYS[4], ARGV[4])
redis.call('EXPIREAT', KEYS[4], ARGV[6])
return 1
";

/// A token and its family. `KEYS = [token]`, `ARGV = [family prefix]`; `{family id, spent, user,
/// generation, expiry, revoked}`, `{family id}` if the family is gone, or nothing.
const FIND: &str = r"
local t = redis.call('HMGET', KEYS[1], 'family', 'spent')
if not t[1] then return nil end
local f = redis.call('HMGET', ARGV[1] .. t[1], 'user', 'gen', 'exp', 'revoked')
if not f[1] then return {t[1]} end
return {t[1], t[2], f[1], f[2], f[3], f[4]}
";

/// The rotation, atomic as every script. `KEYS = [family, token, next token, access set,
/// by-access]`, `ARGV = [family id, now, access id, access expiry]`; `rotated`, `spent` or
/// `ended`.
const ROTATE: &str = r"
local f = redis.call('HMGET', KEYS[1], 'exp', 'revoked')
if not f[1] or f[2] ~= '0' or tonumber(f[1]) <= tonumber(ARGV[2]) then return 'ended' end
local t = redis.call('HMGET', KEYS[2], 'family', 'spent')
if t[1] ~= ARGV[1] then return 'ended' end
if t[2] ~= '0' then return 'spent' end
redis.call('HSET', KEYS[2], 'spent', '1')
redis.call('HSET', KEYS[3], 'family', ARGV[1], 'spent', '0')
redis.call('EXPIREAT', KEYS[3], f[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
redis.call('EXPIREAT', KEYS[4], f[1])
redis.call('SET', KEYS[5], ARGV[1])
redis.call('EXPIREAT', KEYS[5], ARGV[4])
return 'rotated'
";

/// A family's end: marked revoked (kept until its expiry, so its spent tokens stay known), and
/// the ids and expiries of its unexpired access tokens. `KEYS = [family, access set]`,
/// `ARGV = [now]`.
const REVOKE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'revoked', '1') end
return redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], '+inf', 'WITHSCORES')
";

/// The live family of an access token. `KEYS = [by-access]`, `ARGV = [family prefix]`;
/// `{family id, user}` or nothing.
const FAMILY_OF_ACCESS: &str = r"
local family = redis.call('GET', KEYS[1])
if not family then return nil end
local f = redis.call('HMGET', ARGV[1] .. family, 'user', 'revoked')
if not f[1] or f[2] ~= '0' then return nil end
return {family, f[1]}
";

/// Refresh-token families in Redis, on a [`RedisStore`]'s connection: every instance pointed at
/// one Redis sees them. Each operation is one Lua script, so a rotation and a family's end are
/// atomic; keys expire with their family (token hashes only, see the table in the source).
#[derive(Clone)]
pub struct RedisRefreshStore {
    conn: ConnectionManager,
}

impl fmt::Debug for RedisRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRefreshStore").finish_non_exhaustive()
    }
}

impl RedisRefreshStore {
    /// Families on `redis`'s connection.
    pub fn new(redis: &RedisStore) -> Self {
        Self {
            conn: redis.connection(),
        }
    }
}

fn backend(e: redis::RedisError) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("a refresh family in Redis has a bad {what}").into())
}

impl RefreshStore for RedisRefreshStore {
    fn start<'a>(
        &'a self,
        family: &'a Family,
        token: &'a str,
        access: &'a IssuedAccess,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            redis::Script::new(START)
                .key(format!("{FAMILY_PREFIX}{}", family.id))
                .key(format!("{TOKEN_PREFIX}{token}"))
                .key(format!("{ACCESS_PREFIX}{}", family.id))
                .key(format!("{BY_ACCESS_PREFIX}{}", access.token_id))
                .arg(family.user.to_string())
                .arg(family.generation)
                .arg(family.expires_at)
                .arg(&family.id)
                .arg(&access.token_id)
                .arg(access.expires_at)
                .invoke_async::<i64>(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn find<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Presented> {
        Box::pin(async move {
            let found: Option<Vec<String>> = redis::Script::new(FIND)
                .key(format!("{TOKEN_PREFIX}{token}"))
                .arg(FAMILY_PREFIX)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            let Some(found) = found else {
                return Ok(Presented::Unknown);
            };
            let [id, spent, user, generation, expires_at, revoked] = found.as_slice() else {
                return Ok(Presented::Ended);
            };
            let family = Family {
                id: id.clone(),
                user: Uuid::parse_str(user).map_err(|_| corrupt("user"))?,
                generation: generation.parse().map_err(|_| corrupt("generation"))?,
                expires_at: expires_at.parse().map_err(|_| corrupt("expiry"))?,
            };
            if revoked != "0" || family.expires_at <= now() {
                return Ok(Presented::Ended);
            }
            Ok(if spent == "0" {
                Presented::Live(family)
            } else {
                Presented::Spent(family)
            })
        })
    }

    fn rotate<'a>(
        &'a self,
        family: &'a Family,
        token: &'a str,
        next: &'a str,
        access: &'a IssuedAccess,
    ) -> StoreFuture<'a, Rotation> {
        Box::pin(async move {
            let outcome: String = redis::Script::new(ROTATE)
                .key(format!("{FAMILY_PREFIX}{}", family.id))
                .key(format!("{TOKEN_PREFIX}{token}"))
                .key(format!("{TOKEN_PREFIX}{next}"))
                .key(format!("{ACCESS_PREFIX}{}", family.id))
                .key(format!("{BY_ACCESS_PREFIX}{}", access.token_id))
                .arg(&family.id)
                .arg(now())
                .arg(&access.token_id)
                .arg(access.expires_at)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok(match outcome.as_str() {
                "rotated" => Rotation::Rotated,
                "spent" => Rotation::Spent,
                _ => Rotation::Ended,
            })
        })
    }

    fn revoke<'a>(&'a self, family: &'a str) -> StoreFuture<'a, Vec<IssuedAccess>> {
        Box::pin(async move {
            let issued: Vec<(String, u64)> = redis::Script::new(REVOKE)
                .key(format!("{FAMILY_PREFIX}{family}"))
                .key(format!("{ACCESS_PREFIX}{family}"))
                .arg(now())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            Ok(issued
                .into_iter()
                .map(|(token_id, expires_at)| IssuedAccess { token_id, expires_at })
                .collect())
        })
    }

    fn family_of_access<'a>(&'a self, access: &'a str) -> StoreFuture<'a, Option<(String, Uuid)>> {
        Box::pin(async move {
            let found: Option<(String, String)> = redis::Script::new(FAMILY_OF_ACCESS)
                .key(format!("{BY_ACCESS_PREFIX}{access}"))
                .arg(FAMILY_PREFIX)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(backend)?;
            found
                .map(|(family, user)| Ok((family, Uuid::parse_str(&user).map_err(|_| corrupt("user"))?)))
                .transpose()
        })
    }
}
