//! The PostgreSQL user store (feature `postgres`), on FastAPI Users' table layout (`"user"`, `id`
//! a native `UUID`), for several instances sharing one database.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use uuid::Uuid;

use super::model::{User, UserPatch};
use super::revocation::{RevocationStore, TokenStatus};
use super::store::{StoreError, StoreFuture, UserStore, redact_password};
use crate::config::ConfigError;
use crate::token::now;

/// The table as SQLAlchemy creates it for `SQLAlchemyBaseUserTableUUID` on PostgreSQL.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS \"user\" (\n\tid UUID NOT NULL, \n\temail VARCHAR(320) NOT NULL, \n\thashed_password VARCHAR(1024) NOT NULL, \n\tis_active BOOLEAN NOT NULL, \n\tis_superuser BOOLEAN NOT NULL, \n\tis_verified BOOLEAN NOT NULL, \n\tPRIMARY KEY (id)\n)";
const CREATE_EMAIL_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email ON \"user\" (email)";
/// Ours: makes case-insensitive uniqueness atomic.
const CREATE_LOWER_EMAIL_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email_lower ON \"user\" (lower(email))";
/// Serialises migrations of instances starting at once (`CREATE … IF NOT EXISTS` alone races).
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7361626465)";

/// Revoked tokens (until their `exp`) and per-user "not before" times: ours, beside FastAPI Users'
/// tables.
const CREATE_REVOCATION: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS token_denylist (token_id CHAR(64) NOT NULL PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_token_denylist_expires_at ON token_denylist (expires_at)",
    "CREATE TABLE IF NOT EXISTS token_not_before (user_id UUID NOT NULL PRIMARY KEY, not_before BIGINT NOT NULL)",
];

macro_rules! columns {
    () => {
        "id, email, hashed_password, is_active, is_superuser, is_verified"
    };
}

/// Users in PostgreSQL, through an sqlx pool.
///
/// `DATABASE_URL=postgres://127.0.0.1/test` in the `users` example. Migrations (the `"user"`
/// table and its indexes, when absent) run at [`connect`](Self::connect), under an advisory lock,
/// so instances starting together do not trip over each other.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL and migrates; the error names `DATABASE_URL`.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            let url = redact_password(url);
            ConfigError::new("DATABASE_URL", format!("`{url}` is not a PostgreSQL URL: {e}"))
        })?;
        Self::connect_with(options, url).await
    }

    /// Connects with options built by hand (a schema of its own: `.options([("search_path", …)])`).
    pub async fn connect_with(options: PgConnectOptions, url_for_errors: &str) -> Result<Self, ConfigError> {
        let url_for_errors = &redact_password(url_for_errors);
        let bad = |problem: String| ConfigError::new("DATABASE_URL", problem);
        // One plain connection first: a server that is down fails start-up at once, where the
        // pool would retry until its acquire timeout.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(|e| bad(format!("cannot connect to `{url_for_errors}`: {e}")))?;
        probe.close().await.map_err(|e| bad(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await
            .map_err(|e| bad(format!("cannot connect to `{url_for_errors}`: {e}")))?;
        let store = Self { pool };
        store
            .migrate()
            .await
            .map_err(|e| bad(format!("cannot migrate `{url_for_errors}`: {e}")))?;
        Ok(store)
    }

    /// The pool, for your own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), String> {
        let mut tx = self.pool.begin().await.map_err(|e| e.to_string())?;
        let statements = [MIGRATION_LOCK, CREATE_TABLE, CREATE_EMAIL_INDEX];
        for statement in statements.into_iter().chain(CREATE_REVOCATION) {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
        }
        sqlx::query(CREATE_LOWER_EMAIL_INDEX)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    "the \"user\" table holds emails that differ only in case; merge or rename them, \
                     then start again (emails are unique case-insensitively here)"
                        .to_owned()
                } else {
                    e.to_string()
                }
            })?;
        tx.commit().await.map_err(|e| e.to_string())
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

fn backend(error: sqlx::Error) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::EmailTaken
    } else {
        StoreError::Backend(Box::new(error))
    }
}

fn row_to_user(row: &PgRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id").map_err(backend)?,
        email: row.try_get("email").map_err(backend)?,
        hashed_password: row.try_get("hashed_password").map_err(backend)?,
        is_active: row.try_get("is_active").map_err(backend)?,
        is_superuser: row.try_get("is_superuser").map_err(backend)?,
        is_verified: row.try_get("is_verified").map_err(backend)?,
    })
}

fn optional_user(row: Option<PgRow>) -> Result<Option<User>, StoreError> {
    row.as_ref().map(row_to_user).transpose()
}

impl UserStore for PostgresStore {
    fn get(&self, id: Uuid) -> StoreFuture<'_, Option<User>> {
        Box::pin(async move {
            let row = sqlx::query(concat!("SELECT ", columns!(), " FROM \"user\" WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            optional_user(row)
        })
    }

    fn get_by_email<'a>(&'a self, email: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let row = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM \"user\" WHERE lower(email) = lower($1)"
            ))
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            optional_user(row)
        })
    }

    fn create(&self, user: User) -> StoreFuture<'_, User> {
        Box::pin(async move {
            sqlx::query(concat!(
                "INSERT INTO \"user\" (",
                columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(user.id)
            .bind(&user.email)
            .bind(&user.hashed_password)
            .bind(user.is_active)
            .bind(user.is_superuser)
            .bind(user.is_verified)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            Ok(user)
        })
    }

    fn update<'a>(&'a self, id: Uuid, patch: &'a UserPatch) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let row = sqlx::query(concat!(
                "UPDATE \"user\" SET email = COALESCE($1, email), \
                 hashed_password = COALESCE($2, hashed_password), \
                 is_active = COALESCE($3, is_active), is_superuser = COALESCE($4, is_superuser), \
                 is_verified = COALESCE($5, is_verified) WHERE id = $6 RETURNING ",
                columns!()
            ))
            .bind(patch.email.as_deref())
            .bind(patch.hashed_password.as_deref())
            .bind(patch.is_active)
            .bind(patch.is_superuser)
            .bind(patch.is_verified)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            optional_user(row)
        })
    }

    fn delete(&self, id: Uuid) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM \"user\" WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn hash_census(&self) -> StoreFuture<'_, Option<Vec<(String, u64)>>> {
        Box::pin(async move {
            let rows = sqlx::query(HASH_CENSUS)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            let census = rows
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get(0)?,
                        u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0),
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(backend)?;
            Ok(Some(census))
        })
    }
}

/// The stored hashes per [`hash_prefix`](super::password::hash_prefix) (computed alike: argon2
/// up to the `$` after `m=…`, bcrypt's first 7 characters, else empty).
const HASH_CENSUS: &str = "SELECT CASE \
    WHEN hashed_password LIKE '$argon2%' AND strpos(hashed_password, '$m=') > 0 \
        AND strpos(substr(hashed_password, strpos(hashed_password, '$m=') + 1), '$') > 0 \
    THEN substr(hashed_password, 1, strpos(hashed_password, '$m=') \
        + strpos(substr(hashed_password, strpos(hashed_password, '$m=') + 1), '$')) \
    WHEN substr(hashed_password, 1, 2) = '$2' AND substr(hashed_password, 4, 1) = '$' \
        AND substr(hashed_password, 7, 1) = '$' THEN substr(hashed_password, 1, 7) \
    ELSE '' END AS kind, COUNT(*) FROM \"user\" GROUP BY kind";

impl RevocationStore for PostgresStore {
    fn revoke<'a>(&'a self, token_id: &'a str, until: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM token_denylist WHERE expires_at < $1")
                .bind(seconds(now()))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            sqlx::query(
                "INSERT INTO token_denylist (token_id, expires_at) VALUES ($1, $2) ON CONFLICT (token_id) DO NOTHING",
            )
            .bind(token_id)
            .bind(seconds(until))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn revoke_before(&self, user: Uuid, at: u64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO token_not_before (user_id, not_before) VALUES ($1, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET not_before = excluded.not_before",
            )
            .bind(user)
            .bind(seconds(at))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn status<'a>(&'a self, token_id: &'a str, user: Uuid) -> StoreFuture<'a, TokenStatus> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT EXISTS (SELECT 1 FROM token_denylist WHERE token_id = $1 AND expires_at >= $2) AS revoked, \
                 (SELECT not_before FROM token_not_before WHERE user_id = $3) AS not_before",
            )
            .bind(token_id)
            .bind(seconds(now()))
            .bind(user)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
            let not_before: Option<i64> = row.try_get("not_before").map_err(backend)?;
            Ok(TokenStatus {
                revoked: row.try_get("revoked").map_err(backend)?,
                not_before: not_before.map(|t| u64::try_from(t).unwrap_or(0)),
            })
        })
    }

    fn status_with_user<'a>(
        &'a self,
        token_id: &'a str,
        user: Uuid,
    ) -> StoreFuture<'a, (TokenStatus, Option<User>)> {
        Box::pin(async move {
            let row = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                ", EXISTS (SELECT 1 FROM token_denylist WHERE token_id = $1 AND expires_at >= $2) AS revoked, \
                 (SELECT not_before FROM token_not_before WHERE user_id = $3) AS not_before \
                 FROM \"user\" WHERE id = $3"
            ))
            .bind(token_id)
            .bind(seconds(now()))
            .bind(user)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            let Some(row) = row else {
                // No such user: the token is useless anyway (the loader answers 401).
                return Ok((TokenStatus::default(), None));
            };
            let not_before: Option<i64> = row.try_get("not_before").map_err(backend)?;
            let status = TokenStatus {
                revoked: row.try_get("revoked").map_err(backend)?,
                not_before: not_before.map(|t| u64::try_from(t).unwrap_or(0)),
            };
            Ok((status, Some(row_to_user(&row)?)))
        })
    }
}

/// Seconds as SQL's `BIGINT`.
fn seconds(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}
