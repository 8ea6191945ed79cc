//! FastAPI Users' database token strategy (features `sqlite`, `postgres`): opaque random tokens
//! kept in FastAPI Users' own `accesstoken` table, so that tokens an existing FastAPI Users
//! deployment wrote keep working, and the other way round.
//!
//! A token is good while its row exists and is younger than the access-token lifetime. Logout
//! deletes the row; a password change, a reset or a deactivation deletes every row of the user
//! (FastAPI Users leaves them alive) and moves the user's session generation on, so that a login
//! that read the old one cannot insert a row afterwards; deleting a user deletes its rows
//! (`ON DELETE cascade`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use super::model::User;
use super::store::{StoreError, StoreFuture};
use super::strategy::{TokenStrategy, is_opaque_token, opaque_token};
use crate::manager::LoginManager;
use crate::token::Claims;

/// A row of the `accesstoken` table, as [`AccessTokenStore::find_token`] returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// The user the token was made for.
    pub user_id: Uuid,
    /// When the token was made (microsecond precision, as stored).
    pub created_at: SystemTime,
}

/// Storage of opaque access tokens: FastAPI Users' `AccessTokenDatabase`, and the users' session
/// generations (the table `token_generation`, shared with JWT revocation in the same database).
/// Implemented by `SqliteStore` and `PostgresStore` on FastAPI Users' `accesstoken` table.
pub trait AccessTokenStore: Send + Sync + 'static {
    /// Creates the table if it is missing (idempotent; safe for instances starting together).
    /// The default does nothing, for stores whose table is made elsewhere.
    fn create_table(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    /// The user's session generation (0 until [`end_sessions`](Self::end_sessions) first runs).
    fn generation(&self, user: Uuid) -> StoreFuture<'_, u64>;
    /// Stores `token` for `user`, made at `created_at`, if the user's session generation is still
    /// `generation`; whether it did. Atomic with respect to [`end_sessions`](Self::end_sessions):
    /// a token stored is either deleted by it or stored under the new generation's check.
    fn insert_token<'a>(
        &'a self,
        token: &'a str,
        user: Uuid,
        created_at: SystemTime,
        generation: u64,
    ) -> StoreFuture<'a, bool>;
    /// The row of `token` if it was made at or after `created_after`.
    fn find_token<'a>(
        &'a self,
        token: &'a str,
        created_after: SystemTime,
    ) -> StoreFuture<'a, Option<AccessTokenRecord>>;
    /// Deletes `token` (nothing if there is no such token).
    fn delete_token<'a>(&'a self, token: &'a str) -> StoreFuture<'a, ()>;
    /// Moves the user's session generation on and deletes every token of `user`, in one
    /// transaction.
    fn end_sessions(&self, user: Uuid) -> StoreFuture<'_, ()>;
}

/// FastAPI Users' `DatabaseStrategy(database, lifetime_seconds)`, with the lifetime of the
/// access-token manager ([`UsersBuilder::lifetime`](super::UsersBuilder::lifetime)).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use login_runtime::users::{DatabaseStrategy, SqliteStore, Users};
///
/// let store = Arc::new(SqliteStore::connect("sqlite://users.db").await?);
/// let tokens = Arc::new(DatabaseStrategy::new(store.clone()).await?); // `accesstoken` made if missing
/// let users = Users::builder(store)
///     .bearer_strategy(tokens.clone())
///     .cookie_strategy(tokens)
///     .secret("a secret of at least thirty-two bytes!")
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DatabaseStrategy {
    store: Arc<dyn AccessTokenStore>,
}

impl std::fmt::Debug for DatabaseStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseStrategy").finish_non_exhaustive()
    }
}

impl DatabaseStrategy {
    /// The strategy over `store`, whose table is created first if missing.
    pub async fn new(store: Arc<dyn AccessTokenStore>) -> Result<Self, StoreError> {
        store.create_table().await?;
        Ok(Self { store })
    }

    /// The strategy over `store`, whose table exists already.
    pub fn without_migration(store: Arc<dyn AccessTokenStore>) -> Self {
        Self { store }
    }
}

/// `t` truncated to whole microseconds, the precision both databases keep.
fn to_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

fn from_micros(micros: i64) -> SystemTime {
    let magnitude = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

impl TokenStrategy for DatabaseStrategy {
    fn generation(&self, user: Uuid) -> StoreFuture<'_, Option<u64>> {
        Box::pin(async move { Ok(Some(self.store.generation(user).await?)) })
    }

    fn write_token<'a>(
        &'a self,
        _manager: &'a LoginManager,
        user: &'a User,
        generation: Option<u64>,
    ) -> StoreFuture<'a, Option<String>> {
        let token = opaque_token();
        let created_at = from_micros(to_micros(SystemTime::now()));
        Box::pin(async move {
            let generation = match generation {
                Some(generation) => generation,
                None => self.store.generation(user.id).await?,
            };
            let stored = self
                .store
                .insert_token(&token, user.id, created_at, generation)
                .await?;
            Ok(stored.then_some(token))
        })
    }

    fn read_token<'a>(
        &'a self,
        manager: &'a LoginManager,
        token: &'a str,
    ) -> StoreFuture<'a, Option<Claims>> {
        Box::pin(async move {
            if !is_opaque_token(token) {
                return Ok(None);
            }
            let lifetime = manager.expiry();
            let cut_off = SystemTime::now().checked_sub(lifetime).unwrap_or(UNIX_EPOCH);
            let Some(row) = self.store.find_token(token, cut_off).await? else {
                return Ok(None);
            };
            // Whole seconds, rounded up: the token is good until then.
            let created = u64::try_from(to_micros(row.created_at).max(0))
                .unwrap_or(0)
                .div_ceil(1_000_000);
            let exp = created.saturating_add(lifetime.as_secs());
            Ok(Some(Claims::new(row.user_id.to_string(), exp)))
        })
    }

    fn destroy_token<'a>(&'a self, _manager: &'a LoginManager, token: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if is_opaque_token(token) {
                self.store.delete_token(token).await?;
            }
            Ok(())
        })
    }

    fn destroy_all<'a>(&'a self, user: &'a User) -> StoreFuture<'a, ()> {
        self.store.end_sessions(user.id)
    }
}

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
#[cfg(any(feature = "sqlite", test))]
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// UTC as SQLAlchemy writes a `DateTime` to SQLite: `YYYY-MM-DD HH:MM:SS.ffffff`, no offset.
fn sql_timestamp(t: SystemTime) -> String {
    let micros = to_micros(t);
    let (secs, frac) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let (days, secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{frac:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Reads [`sql_timestamp`]'s format (also with a `T`, fewer fraction digits or none, and a
/// `Z` / `+00:00` suffix), as UTC.
#[cfg(any(feature = "sqlite", test))]
fn parse_sql_timestamp(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))
        .or_else(|| text.strip_suffix("+00"))
        .unwrap_or(text);
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut micros = 0;
    if b.len() > 19 {
        let fraction = text[19..].strip_prefix('.')?;
        if fraction.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let digits = &fraction[..fraction.len().min(6)];
        micros = digits.parse::<i64>().ok()? * 10_i64.pow(6 - digits.len() as u32);
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(from_micros(secs * 1_000_000 + micros))
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::time::SystemTime;

    use sqlx::Row;
    use uuid::Uuid;

    use super::{AccessTokenRecord, AccessTokenStore, backend, parse_sql_timestamp, sql_timestamp};
    use crate::users::sqlite::bump_generation;
    use crate::users::store::{StoreError, StoreFuture};
    use crate::users::{RevocationStore, SqliteStore};

    /// The table as SQLAlchemy creates it for `SQLAlchemyBaseAccessTokenTableUUID` on SQLite
    /// (`IF NOT EXISTS` added).
    const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS accesstoken (\n\tuser_id CHAR(36) NOT NULL, \n\ttoken VARCHAR(43) NOT NULL, \n\tcreated_at TIMESTAMP NOT NULL, \n\tPRIMARY KEY (token), \n\tFOREIGN KEY(user_id) REFERENCES user (id) ON DELETE cascade\n)";
    const CREATE_INDEX: &str =
        "CREATE INDEX IF NOT EXISTS ix_accesstoken_created_at ON accesstoken (created_at)";

    impl SqliteStore {
        /// Creates FastAPI Users' `accesstoken` table and its index if missing, for
        /// [`DatabaseStrategy`](super::DatabaseStrategy). The store's connections enforce its
        /// foreign key, so deleting a user deletes its tokens.
        pub async fn migrate_access_tokens(&self) -> Result<(), StoreError> {
            for statement in [CREATE_TABLE, CREATE_INDEX] {
                sqlx::query(statement)
                    .execute(self.pool())
                    .await
                    .map_err(backend)?;
            }
            Ok(())
        }
    }

    impl AccessTokenStore for SqliteStore {
        fn create_table(&self) -> StoreFuture<'_, ()> {
            Box::pin(self.migrate_access_tokens())
        }

        fn generation(&self, user: Uuid) -> StoreFuture<'_, u64> {
            RevocationStore::generation(self, user)
        }

        /// One statement: SQLite runs one writer at a time, so it cannot interleave with
        /// [`end_sessions`](AccessTokenStore::end_sessions)' transaction.
        fn insert_token<'a>(
            &'a self,
            token: &'a str,
            user: Uuid,
            created_at: SystemTime,
            generation: u64,
        ) -> StoreFuture<'a, bool> {
            Box::pin(async move {
                let user = user.to_string();
                let done = sqlx::query(
                    "INSERT INTO accesstoken (user_id, token, created_at) SELECT ?, ?, ? \
                     WHERE COALESCE((SELECT generation FROM token_generation WHERE user_id = ?), 0) = ?",
                )
                .bind(&user)
                .bind(token)
                .bind(sql_timestamp(created_at))
                .bind(&user)
                .bind(i64::try_from(generation).unwrap_or(i64::MAX))
                .execute(self.pool())
                .await
                .map_err(backend)?;
                Ok(done.rows_affected() == 1)
            })
        }

        fn find_token<'a>(
            &'a self,
            token: &'a str,
            created_after: SystemTime,
        ) -> StoreFuture<'a, Option<AccessTokenRecord>> {
            Box::pin(async move {
                let row = sqlx::query(
                    "SELECT user_id, created_at FROM accesstoken WHERE token = ? AND created_at >= ?",
                )
                .bind(token)
                .bind(sql_timestamp(created_after))
                .fetch_optional(self.pool())
                .await
                .map_err(backend)?;
                let Some(row) = row else { return Ok(None) };
                let user_id: String = row.try_get("user_id").map_err(backend)?;
                let created_at: String = row.try_get("created_at").map_err(backend)?;
                Ok(Some(AccessTokenRecord {
                    user_id: Uuid::parse_str(&user_id).map_err(backend)?,
                    created_at: parse_sql_timestamp(&created_at).ok_or_else(|| {
                        StoreError::Backend(
                            format!("accesstoken.created_at `{created_at}` is not a timestamp").into(),
                        )
                    })?,
                }))
            })
        }

        fn delete_token<'a>(&'a self, token: &'a str) -> StoreFuture<'a, ()> {
            Box::pin(async move {
                sqlx::query("DELETE FROM accesstoken WHERE token = ?")
                    .bind(token)
                    .execute(self.pool())
                    .await
                    .map_err(backend)?;
                Ok(())
            })
        }

        fn end_sessions(&self, user: Uuid) -> StoreFuture<'_, ()> {
            Box::pin(async move {
                let mut tx = self.pool().begin().await.map_err(backend)?;
                bump_generation(&mut tx, user).await?;
                sqlx::query("DELETE FROM accesstoken WHERE user_id = ?")
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            })
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::time::SystemTime;

    use sqlx::Row;
    use uuid::Uuid;

    use super::{AccessTokenRecord, AccessTokenStore, backend, from_micros, sql_timestamp};
    use crate::users::postgres::{bump_generation, lock_sessions};
    use crate::users::store::{StoreError, StoreFuture};
    use crate::users::{PostgresStore, RevocationStore};

    /// The table as SQLAlchemy creates it for `SQLAlchemyBaseAccessTokenTableUUID` on
    /// PostgreSQL (`IF NOT EXISTS` added).
    const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS accesstoken (\n\tuser_id UUID NOT NULL, \n\ttoken VARCHAR(43) NOT NULL, \n\tcreated_at TIMESTAMP WITH TIME ZONE NOT NULL, \n\tPRIMARY KEY (token), \n\tFOREIGN KEY(user_id) REFERENCES \"user\" (id) ON DELETE cascade\n)";
    const CREATE_INDEX: &str =
        "CREATE INDEX IF NOT EXISTS ix_accesstoken_created_at ON accesstoken (created_at)";
    /// The lock `PostgresStore`'s own migration takes.
    const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7361626465)";

    /// A timestamp bound as text with an explicit UTC offset (no time-zone setting applies).
    fn utc(t: SystemTime) -> String {
        format!("{}+00", sql_timestamp(t))
    }

    impl PostgresStore {
        /// Creates FastAPI Users' `accesstoken` table and its index if missing, for
        /// [`DatabaseStrategy`](super::DatabaseStrategy), under the migration lock so that
        /// instances starting together do not race.
        pub async fn migrate_access_tokens(&self) -> Result<(), StoreError> {
            let mut tx = self.pool().begin().await.map_err(backend)?;
            for statement in [MIGRATION_LOCK, CREATE_TABLE, CREATE_INDEX] {
                sqlx::query(statement).execute(&mut *tx).await.map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        }
    }

    impl AccessTokenStore for PostgresStore {
        fn create_table(&self) -> StoreFuture<'_, ()> {
            Box::pin(self.migrate_access_tokens())
        }

        fn generation(&self, user: Uuid) -> StoreFuture<'_, u64> {
            RevocationStore::generation(self, user)
        }

        /// Under the user's session lock, which [`end_sessions`](AccessTokenStore::end_sessions)
        /// takes too: under PostgreSQL's read committed, a plain `INSERT … SELECT` could commit
        /// after the other transaction's `DELETE` took its snapshot, and its row would survive.
        fn insert_token<'a>(
            &'a self,
            token: &'a str,
            user: Uuid,
            created_at: SystemTime,
            generation: u64,
        ) -> StoreFuture<'a, bool> {
            Box::pin(async move {
                let mut tx = self.pool().begin().await.map_err(backend)?;
                lock_sessions(&mut tx, user).await?;
                let done = sqlx::query(
                    "INSERT INTO accesstoken (user_id, token, created_at) SELECT $1, $2, $3::timestamptz \
                     WHERE COALESCE((SELECT generation FROM token_generation WHERE user_id = $1), 0) = $4",
                )
                .bind(user)
                .bind(token)
                .bind(utc(created_at))
                .bind(i64::try_from(generation).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                tx.commit().await.map_err(backend)?;
                Ok(done.rows_affected() == 1)
            })
        }

        fn find_token<'a>(
            &'a self,
            token: &'a str,
            created_after: SystemTime,
        ) -> StoreFuture<'a, Option<AccessTokenRecord>> {
            Box::pin(async move {
                let row = sqlx::query(
                    "SELECT user_id, (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint AS created_us \
                     FROM accesstoken WHERE token = $1 AND created_at >= $2::timestamptz",
                )
                .bind(token)
                .bind(utc(created_after))
                .fetch_optional(self.pool())
                .await
                .map_err(backend)?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(AccessTokenRecord {
                    user_id: row.try_get("user_id").map_err(backend)?,
                    created_at: from_micros(row.try_get("created_us").map_err(backend)?),
                }))
            })
        }

        fn delete_token<'a>(&'a self, token: &'a str) -> StoreFuture<'a, ()> {
            Box::pin(async move {
                sqlx::query("DELETE FROM accesstoken WHERE token = $1")
                    .bind(token)
                    .execute(self.pool())
                    .await
                    .map_err(backend)?;
                Ok(())
            })
        }

        fn end_sessions(&self, user: Uuid) -> StoreFuture<'_, ()> {
            Box::pin(async move {
                let mut tx = self.pool().begin().await.map_err(backend)?;
                lock_sessions(&mut tx, user).await?;
                bump_generation(&mut tx, user).await?;
                sqlx::query("DELETE FROM accesstoken WHERE user_id = $1")
                    .bind(user)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::OPAQUE_TOKEN_LEN;

    #[test]
    fn timestamps_are_written_and_read_as_sqlalchemy_does() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_899_595_114_390);
        assert_eq!(sql_timestamp(t), "2026-11-28 20:59:55.114390");
        assert_eq!(parse_sql_timestamp("2026-11-28 20:59:55.114390"), Some(t));
        assert_eq!(parse_sql_timestamp("2026-11-28T20:59:55.114390+00:00"), Some(t));
        assert_eq!(
            parse_sql_timestamp("2026-11-28 20:59:55"),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_899_595))
        );
        assert_eq!(
            parse_sql_timestamp("2026-11-28 20:59:55.5"),
            Some(UNIX_EPOCH + Duration::from_millis(1_795_899_595_500))
        );
        assert_eq!(sql_timestamp(UNIX_EPOCH), "1970-01-01 00:00:00.000000");
        assert_eq!(
            sql_timestamp(from_micros(951_782_400_000_000)),
            "2000-02-29 00:00:00.000000"
        );
        for micros in [
            0,
            1,
            951_782_399_999_999,
            4_102_444_800_000_000,
            1_795_899_595_114_390,
        ] {
            let t = from_micros(micros);
            assert_eq!(parse_sql_timestamp(&sql_timestamp(t)), Some(t), "{micros}");
        }
        for bad in [
            "",
            "2026-11-28",
            "2026-13-01 00:00:00",
            "2026-11-28 20:59:55.",
            "20261128 205955.1",
        ] {
            assert_eq!(parse_sql_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_are_token_urlsafe() {
        let (a, b) = (opaque_token(), opaque_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), OPAQUE_TOKEN_LEN);
        assert!(is_opaque_token(&a) && is_opaque_token(&b));
        assert!(!is_opaque_token(""));
        assert!(!is_opaque_token(&"a".repeat(44)));
        assert!(!is_opaque_token("abc.def"));
        assert!(!is_opaque_token("abc=="));
        assert!(!is_opaque_token("ab c"));
    }
}
