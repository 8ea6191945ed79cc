//! The SQLite user store (feature `sqlite`), on FastAPI Users' own table layout so that an
//! existing FastAPI Users database is served as it is.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use uuid::Uuid;

use super::model::{User, UserPatch};
use super::store::{StoreError, StoreFuture, UserStore};
use crate::config::ConfigError;

/// The table exactly as SQLAlchemy creates it for `SQLAlchemyBaseUserTableUUID` (byte for byte,
/// so a new database looks like one FastAPI Users made).
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS user (\n\tid CHAR(36) NOT NULL, \n\temail VARCHAR(320) NOT NULL, \n\thashed_password VARCHAR(1024) NOT NULL, \n\tis_active BOOLEAN NOT NULL, \n\tis_superuser BOOLEAN NOT NULL, \n\tis_verified BOOLEAN NOT NULL, \n\tPRIMARY KEY (id)\n)";
const CREATE_EMAIL_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email ON user (email)";
/// Ours: makes case-insensitive uniqueness atomic. FastAPI Users' own index is case-sensitive.
const CREATE_LOWER_EMAIL_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email_lower ON user (lower(email))";

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
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| bad(format!("`{url}` is not a SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| bad(format!("cannot open `{url}`: {e}")))?;
        let store = Self { pool };
        store
            .migrate()
            .await
            .map_err(|e| bad(format!("cannot migrate `{url}`: {e}")))?;
        Ok(store)
    }

    /// The pool, for your own queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), String> {
        for statement in [CREATE_TABLE, CREATE_EMAIL_INDEX] {
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
}
