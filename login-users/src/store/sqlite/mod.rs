//! The SQLite user store (feature `sqlite`), on FastAPI Users' own table layout so that an
//! existing FastAPI Users database is served as it is.

mod access_tokens;
mod migrations;
mod refresh;

pub use refresh::SqliteRefreshStore;

use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use uuid::Uuid;

use crate::claims::now;
use crate::email::{conflict_message, lookup_key, plan_rewrites};
use crate::model::{User, UserPatch};
use crate::store::revocation::{RevocationStore, TokenStatus};
use crate::store::{StoreError, StoreFuture, UserStore, redact_password};
use login_runtime::ConfigError;

/// Ours: makes uniqueness under [`email_key`](crate::email_key) atomic (stored emails are
/// canonical, and SQLite's `lower()` folds ASCII only, as the key does). FastAPI Users' own index
/// is case-sensitive. Made after the migrations and the canonicalisation of stored emails, by
/// [`SqliteStore::connect`], so that when two rows are one mailbox the error names them.
const CREATE_LOWER_EMAIL_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email_lower ON user (lower(email))";

/// An earlier version kept per-user "not before" seconds in `token_not_before`: each such user's
/// tokens without a generation (all of that version's) are ended, once, and the table goes.
const ADOPT_NOT_BEFORE: [&str; 2] = [
    "INSERT INTO token_generation (user_id, generation) SELECT user_id, 1 FROM token_not_before WHERE true \
     ON CONFLICT (user_id) DO NOTHING",
    "DROP TABLE token_not_before",
];

/// The columns, in table order, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, email, hashed_password, is_active, is_superuser, is_verified"
    };
}

/// The condition under which a write to the user `id = ?` may proceed: they are not an active
/// superuser, or `$stays` (still one after the write), or another active superuser exists.
macro_rules! sqlite_keeps_a_superuser {
    ($stays:literal) => {
        concat!(
            "NOT (is_superuser AND is_active) OR (",
            $stays,
            ") OR EXISTS (SELECT 1 FROM user AS other WHERE other.id <> user.id \
             AND other.is_superuser AND other.is_active)"
        )
    };
}

/// Users in SQLite (bundled; no system library needed), through an sqlx pool.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use login_users::{SqliteStore, User, UserStore};
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
    /// pending versions of `migrations/sqlite/` (recorded in `_login_users_migrations`; an existing
    /// FastAPI Users database is adopted as it is), then the data steps (a `token_not_before`
    /// table of an earlier version adopted, stored emails made canonical, the case-insensitive
    /// email index), all in one transaction under the database's write lock, so that processes
    /// starting together on one file take turns. The error names `DATABASE_URL`.
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
            .busy_timeout(BUSY_TIMEOUT);
        let pool = open(options)
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
        let err = |e: sqlx::Error| e.to_string();
        let mut tx = migrations::begin_and_apply(&self.pool, migrations::USERS)
            .await
            .map_err(|e| e.to_string())?;
        let old: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'token_not_before'",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        if old.is_some() {
            for statement in ADOPT_NOT_BEFORE {
                sqlx::query(statement).execute(&mut *tx).await.map_err(err)?;
            }
        }
        canonicalise_emails(&mut tx).await?;
        if let Err(e) = sqlx::query(CREATE_LOWER_EMAIL_INDEX).execute(&mut *tx).await {
            if !is_unique_violation(&e) {
                return Err(e.to_string());
            }
            let pairs: Vec<(String, String)> = sqlx::query_as(
                "SELECT a.id, b.id FROM user a JOIN user b \
                 ON lower(a.email) = lower(b.email) AND a.id < b.id LIMIT 11",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?;
            return Err(conflict_message("`user`", &pairs));
        }
        tx.commit().await.map_err(err)
    }
}

/// Rewrites stored emails that are not in canonical form (an older version of this crate
/// lower-cased the domain only, keeping `xn--` labels, fullwidth forms and non-NFC local
/// parts), so that lookups by the canonical form reach them; refuses, naming the rows, when
/// two of them are one mailbox. Only rows that can differ from their canonical form (with a
/// non-ASCII character, an upper-case letter, or `xn--`) are read.
async fn canonicalise_emails(tx: &mut SqliteConnection) -> Result<(), String> {
    let err = |e: sqlx::Error| e.to_string();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, email FROM user WHERE email GLOB '*[^ -~]*' OR email GLOB '*@*[A-Z]*' \
         OR lower(email) LIKE '%xn--%'",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(err)?;
    let (rewrites, mut conflicts) = plan_rewrites(rows);
    for rewrite in &rewrites {
        let other: Option<String> =
            sqlx::query_scalar("SELECT id FROM user WHERE lower(email) = ? AND id <> ? LIMIT 1")
                .bind(rewrite.canonical.to_ascii_lowercase())
                .bind(&rewrite.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
        conflicts.extend(other.map(|other| (other, rewrite.id.clone())));
    }
    if !conflicts.is_empty() {
        return Err(conflict_message("`user`", &conflicts));
    }
    for rewrite in &rewrites {
        sqlx::query("UPDATE user SET email = ? WHERE id = ?")
            .bind(&rewrite.canonical)
            .bind(&rewrite.id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
    }
    if !rewrites.is_empty() {
        tracing::info!(
            rows = rewrites.len(),
            "stored emails rewritten to their canonical form"
        );
    }
    Ok(())
}

/// How long a statement waits for another connection's lock (SQLite's busy handler), and how long
/// [`open`] retries.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The pool, opened with its first connection, retried while SQLite answers `SQLITE_BUSY` at once
/// for up to [`BUSY_TIMEOUT`]: of processes opening a new file together, one switches it to WAL,
/// and SQLite refuses the others' switch without calling the busy handler (waiting there could
/// deadlock), so they try again once it is done.
async fn open(options: SqliteConnectOptions) -> Result<SqlitePool, sqlx::Error> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match SqlitePoolOptions::new()
            .max_connections(8)
            // A connection to a local file does not go stale: sqlx's default ping before each
            // acquire is one more round trip to the connection's worker thread per query.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
        {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            opened => return opened,
        }
    }
}

/// `SQLITE_BUSY` or one of its extended codes.
fn is_busy(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e)
        if e.code().and_then(|code| code.parse::<i32>().ok()).is_some_and(|code| code & 0xff == 5))
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
            // No valid address, no user (and nothing odd reaches the database).
            let Some(key) = lookup_key(email) else {
                return Ok(None);
            };
            let row = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM user WHERE lower(email) = ?"
            ))
            .bind(key)
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

    fn update_unless_last_superuser<'a>(
        &'a self,
        id: Uuid,
        patch: &'a UserPatch,
    ) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            // One statement: SQLite takes the write lock before it reads, so the check of the
            // other superusers and the write see the same state, and a concurrent demotion
            // waits for this one.
            let row = sqlx::query(concat!(
                "UPDATE user SET email = COALESCE(?1, email), \
                 hashed_password = COALESCE(?2, hashed_password), \
                 is_active = COALESCE(?3, is_active), is_superuser = COALESCE(?4, is_superuser), \
                 is_verified = COALESCE(?5, is_verified) WHERE id = ?6 AND (",
                sqlite_keeps_a_superuser!("COALESCE(?4, is_superuser) AND COALESCE(?3, is_active)"),
                ") RETURNING ",
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
            match row {
                Some(row) => row_to_user(&row).map(Some),
                None => self.refused_or_missing(id).await.map(|()| None),
            }
        })
    }

    fn delete_unless_last_superuser(&self, id: Uuid) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let done = sqlx::query(concat!(
                "DELETE FROM user WHERE id = ?1 AND (",
                sqlite_keeps_a_superuser!("0"),
                ")"
            ))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if done.rows_affected() > 0 {
                return Ok(true);
            }
            self.refused_or_missing(id).await.map(|()| false)
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

impl SqliteStore {
    /// After a guarded write touched no row: `LastSuperuser` if the user exists (the guard
    /// refused), `Ok` if there is no such user.
    async fn refused_or_missing(&self, id: Uuid) -> Result<(), StoreError> {
        let exists = sqlx::query("SELECT 1 FROM user WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .is_some();
        if exists {
            Err(StoreError::LastSuperuser)
        } else {
            Ok(())
        }
    }
}

/// Moves `user`'s session generation on, in the caller's transaction.
pub(crate) async fn bump_generation(conn: &mut SqliteConnection, user: Uuid) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO token_generation (user_id, generation) VALUES (?, 1) \
         ON CONFLICT (user_id) DO UPDATE SET generation = generation + 1",
    )
    .bind(user.to_string())
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

fn status_of(row: &SqliteRow) -> Result<TokenStatus, StoreError> {
    let generation: Option<i64> = row.try_get("generation").map_err(backend)?;
    Ok(TokenStatus {
        revoked: row.try_get("revoked").map_err(backend)?,
        generation: generation.map_or(0, |g| u64::try_from(g).unwrap_or(0)),
    })
}

/// The stored hashes per [`hash_prefix`](crate::password::hash_prefix) (computed alike: argon2
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

    fn generation(&self, user: Uuid) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let generation: Option<i64> =
                sqlx::query_scalar("SELECT generation FROM token_generation WHERE user_id = ?")
                    .bind(user.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
            Ok(generation.map_or(0, |g| u64::try_from(g).unwrap_or(0)))
        })
    }

    fn end_sessions(&self, user: Uuid) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(backend)?;
            bump_generation(&mut conn, user).await
        })
    }

    fn status<'a>(&'a self, token_id: &'a str, user: Uuid) -> StoreFuture<'a, TokenStatus> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT EXISTS (SELECT 1 FROM token_denylist WHERE token_id = ? AND expires_at >= ?) AS revoked, \
                 (SELECT generation FROM token_generation WHERE user_id = ?) AS generation",
            )
            .bind(token_id)
            .bind(seconds(now()))
            .bind(user.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
            status_of(&row)
        })
    }

    fn status_with_user<'a>(
        &'a self,
        token_id: &'a str,
        user: Uuid,
    ) -> StoreFuture<'a, (TokenStatus, Option<User>)> {
        Box::pin(async move {
            let id = user.to_string();
            let row = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                ", EXISTS (SELECT 1 FROM token_denylist WHERE token_id = ? AND expires_at >= ?) AS revoked, \
                 (SELECT generation FROM token_generation WHERE user_id = ?) AS generation \
                 FROM user WHERE id = ?"
            ))
            .bind(token_id)
            .bind(seconds(now()))
            .bind(&id)
            .bind(&id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            let Some(row) = row else {
                // No such user: the token is useless anyway (the loader answers 401).
                return Ok((TokenStatus::default(), None));
            };
            Ok((status_of(&row)?, Some(row_to_user(&row)?)))
        })
    }
}

/// Seconds as SQL's `BIGINT`.
fn seconds(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}
