//! The SQLite user store (feature `sqlite`), on FastAPI Users' own table layout so that an
//! existing FastAPI Users database is served as it is.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use uuid::Uuid;

use super::model::{User, UserPatch};
use super::revocation::{RevocationStore, TokenStatus};
use super::store::{StoreError, StoreFuture, UserStore, redact_password};
use crate::config::ConfigError;
use crate::token::now;

/// The table exactly as SQLAlchemy creates it for `SQLAlchemyBaseUserTableUUID` (byte for byte,
/// so a new database looks like one FastAPI Users made).
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS user (\n\tid CHAR(36) NOT NULL, \n\temail VARCHAR(320) NOT NULL, \n\thashed_password VARCHAR(1024) NOT NULL, \n\tis_active BOOLEAN NOT NULL, \n\tis_superuser BOOLEAN NOT NULL, \n\tis_verified BOOLEAN NOT NULL, \n\tPRIMARY KEY (id)\n)";
const CREATE_EMAIL_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email ON user (email)";
/// Ours: makes case-insensitive uniqueness atomic. FastAPI Users' own index is case-sensitive.
const CREATE_LOWER_EMAIL_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email_lower ON user (lower(email))";

/// Revoked tokens (until their `exp`) and per-user "not before" times: ours, beside FastAPI Users'
/// tables.
const CREATE_REVOCATION: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS token_denylist (token_id CHAR(64) NOT NULL PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_token_denylist_expires_at ON token_denylist (expires_at)",
    "CREATE TABLE IF NOT EXISTS token_not_before (user_id CHAR(36) NOT NULL PRIMARY KEY, not_before BIGINT NOT NULL)",
];

/// The columns, in table order, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, email, hashed_password, is_active, is_superuser, is_verified"
    };
}

/// Users in SQLite (bundled; no system library needed), through an sqlx pool.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use login_runtime::users::{SqliteStore, User, UserStore};
///
/// let dir = std::env::temp_dir().join(format!("doc-{}", uuid::Uuid::new_v4()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let url = format!("sqlite://{}", dir.join("users.db").display());
/// let store = SqliteStore::connect(&url).await.unwrap(); // created and migrated
/// let ann = store.create(User::new("ann@example.com", "$argon2id$…")).await.unwrap();
/// assert_eq!(store.get_by_email("ANN@example.com").await.unwrap().unwrap().id, ann.id);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite://path` URL and migrates it: the
    /// `user` table and its indexes are made if absent, idempotently. The error names
    /// `DATABASE_URL`.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        let bad = |problem: String| ConfigError::new("DATABASE_URL", problem);
        let shown = redact_password(url);
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| bad(format!("`{shown}` is not a SQLite URL: {e}")))?
            .create_if_missing(true)
            // Durability: a commit is in the WAL before the statement returns, so an answered
            // write survives the process being killed; FULL syncs the WAL at each commit, so it
            // survives a power loss too (SQLite's default, stated so that it stays).
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| bad(format!("cannot open `{shown}`: {e}")))?;
        let store = Self { pool };
        store
            .migrate()
            .await
            .map_err(|e| bad(format!("cannot migrate `{shown}`: {e}")))?;
        Ok(store)
    }

    /// The pool, for your own queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), String> {
        for statement in [CREATE_TABLE, CREATE_EMAIL_INDEX]
            .into_iter()
            .chain(CREATE_REVOCATION)
        {
            sqlx::query(statement)
                .execute(&self.pool)
                .await
                .map_err(|e| e.to_string())?;
        }
        sqlx::query(CREATE_LOWER_EMAIL_INDEX)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    "the `user` table holds emails that differ only in case; merge or rename them, \
                     then start again (emails are unique case-insensitively here)"
                        .to_owned()
                } else {
                    e.to_string()
                }
            })?;
        Ok(())
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

fn row_to_user(row: &SqliteRow) -> Result<User, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    Ok(User {
        id: Uuid::parse_str(&id).map_err(|e| StoreError::Backend(Box::new(e)))?,
        email: row.try_get("email").map_err(backend)?,
        hashed_password: row.try_get("hashed_password").map_err(backend)?,
        is_active: row.try_get("is_active").map_err(backend)?,
        is_superuser: row.try_get("is_superuser").map_err(backend)?,
        is_verified: row.try_get("is_verified").map_err(backend)?,
    })
}

fn optional_user(row: Option<SqliteRow>) -> Result<Option<User>, StoreError> {
    row.as_ref().map(row_to_user).transpose()
}

impl UserStore for SqliteStore {
    fn get(&self, id: Uuid) -> StoreFuture<'_, Option<User>> {
        Box::pin(async move {
            let row = sqlx::query(concat!("SELECT ", columns!(), " FROM user WHERE id = ?"))
                .bind(id.to_string())
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
                " FROM user WHERE lower(email) = lower(?)"
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
                "INSERT INTO user (",
                columns!(),
                ") VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .bind(user.id.to_string())
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
                "UPDATE user SET email = COALESCE(?, email), \
                 hashed_password = COALESCE(?, hashed_password), \
                 is_active = COALESCE(?, is_active), is_superuser = COALESCE(?, is_superuser), \
                 is_verified = COALESCE(?, is_verified) WHERE id = ? RETURNING ",
                columns!()
            ))
            .bind(patch.email.as_deref())
            .bind(patch.hashed_password.as_deref())
            .bind(patch.is_active)
            .bind(patch.is_superuser)
            .bind(patch.is_verified)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            optional_user(row)
        })
    }

    fn delete(&self, id: Uuid) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM user WHERE id = ?")
                .bind(id.to_string())
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
    WHEN hashed_password LIKE '$argon2%' AND instr(hashed_password, '$m=') > 0 \
        AND instr(substr(hashed_password, instr(hashed_password, '$m=') + 1), '$') > 0 \
    THEN substr(hashed_password, 1, instr(hashed_password, '$m=') \
        + instr(substr(hashed_password, instr(hashed_password, '$m=') + 1), '$')) \
    WHEN substr(hashed_password, 1, 2) = '$2' AND substr(hashed_password, 4, 1) = '$' \
        AND substr(hashed_password, 7, 1) = '$' THEN substr(hashed_password, 1, 7) \
    ELSE '' END AS kind, COUNT(*) FROM user GROUP BY kind";

impl RevocationStore for SqliteStore {
    fn revoke<'a>(&'a self, token_id: &'a str, until: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM token_denylist WHERE expires_at < ?")
                .bind(seconds(now()))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            sqlx::query("INSERT INTO token_denylist (token_id, expires_at) VALUES (?, ?) ON CONFLICT (token_id) DO NOTHING")
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
                "INSERT INTO token_not_before (user_id, not_before) VALUES (?, ?) \
                 ON CONFLICT (user_id) DO UPDATE SET not_before = excluded.not_before",
            )
            .bind(user.to_string())
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
                "SELECT EXISTS (SELECT 1 FROM token_denylist WHERE token_id = ? AND expires_at >= ?) AS revoked, \
                 (SELECT not_before FROM token_not_before WHERE user_id = ?) AS not_before",
            )
            .bind(token_id)
            .bind(seconds(now()))
            .bind(user.to_string())
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
                ", EXISTS (SELECT 1 FROM token_denylist WHERE token_id = ? AND expires_at >= ?) AS revoked, \
                 (SELECT not_before FROM token_not_before WHERE user_id = ?) AS not_before \
                 FROM user WHERE id = ?"
            ))
            .bind(token_id)
            .bind(seconds(now()))
            .bind(user.to_string())
            .bind(user.to_string())
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
