//! The PostgreSQL user store (feature `postgres`), on FastAPI Users' table layout (`"user"`, `id`
//! a native `UUID`), for several instances sharing one database.

mod access_tokens;
mod migrations;
mod refresh;

pub use refresh::PostgresRefreshStore;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use uuid::Uuid;

use crate::claims::now;
use crate::email::{conflict_message, lookup_key, plan_rewrites};
use crate::model::{User, UserPatch};
use crate::store::revocation::{RevocationStore, TokenStatus};
use crate::store::{StoreError, StoreFuture, UserStore, redact_password};
use login_runtime::ConfigError;

/// [`email_key`](crate::email_key) in SQL, for stored (canonical) emails: ASCII letters lower-cased
/// and nothing else. Not `lower()`, which folds Unicode by the server's locale (`İ`, the Kelvin
/// sign), so that SQLite, PostgreSQL and the throttle agree; `translate` is immutable, so it can
/// be indexed.
macro_rules! email_key_sql {
    () => {
        "translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
    };
}
/// Ours: makes uniqueness under the key atomic. Made after the migrations and the
/// canonicalisation of stored emails, in their transaction, so that when two rows are one mailbox
/// the error names them.
const CREATE_KEY_EMAIL_INDEX: &str = concat!(
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email_key ON \"user\" (",
    email_key_sql!(),
    ")"
);
/// The index of earlier versions, on `lower(email)`: it folded Unicode by the server's locale, so
/// it refused `ärger@…` beside `Ärger@…`; replaced by [`CREATE_KEY_EMAIL_INDEX`] in the same
/// transaction (a step at each start, with the index it makes way for, rather than a migration:
/// the key index waits for the data step that makes stored emails canonical).
const DROP_LOWER_EMAIL_INDEX: &str = "DROP INDEX IF EXISTS ix_user_email_lower";
/// An earlier version kept per-user "not before" seconds in `token_not_before`: each such user's
/// tokens without a generation (all of that version's) are ended, once, and the table goes.
const ADOPT_NOT_BEFORE: [&str; 2] = [
    "INSERT INTO token_generation (user_id, generation) SELECT user_id, 1 FROM token_not_before \
     ON CONFLICT (user_id) DO NOTHING",
    "DROP TABLE token_not_before",
];

macro_rules! columns {
    () => {
        "id, email, hashed_password, is_active, is_superuser, is_verified"
    };
}

/// The condition under which a write to the user `id = $n` may proceed: they are not an active
/// superuser, or `$stays` (still one after the write), or another active superuser exists.
macro_rules! postgres_keeps_a_superuser {
    ($stays:literal) => {
        concat!(
            "NOT (is_superuser AND is_active) OR (",
            $stays,
            ") OR EXISTS (SELECT 1 FROM \"user\" AS other WHERE other.id <> \"user\".id \
             AND other.is_superuser AND other.is_active)"
        )
    };
}

/// Users in PostgreSQL, through an sqlx pool.
///
/// `DATABASE_URL=postgres://127.0.0.1/test` in the `users` example. Migrations (the pending
/// versions of `migrations/postgres/`, recorded in `_login_users_migrations`, then the data
/// steps) run at [`connect`](Self::connect) in one transaction, under an advisory lock, so
/// instances starting together do not trip over each other; an existing FastAPI Users database is
/// adopted as it is.
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
        if let Err(e) = store.migrate().await {
            // Close now: the failed migration's transaction (and its locks) ends with its
            // connection, not whenever the dropped pool gets round to it.
            store.pool.close().await;
            return Err(bad(format!("cannot migrate `{url_for_errors}`: {e}")));
        }
        Ok(store)
    }

    /// The pool, for your own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), String> {
        let mut tx = migrations::begin_and_apply(&self.pool, migrations::USERS)
            .await
            .map_err(|e| e.to_string())?;
        let old: Option<String> = sqlx::query_scalar("SELECT to_regclass('token_not_before')::text")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        if old.is_some() {
            for statement in ADOPT_NOT_BEFORE {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        sqlx::query(DROP_LOWER_EMAIL_INDEX)
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        canonicalise_emails(&mut tx).await?;
        sqlx::query("SAVEPOINT key_index")
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = sqlx::query(CREATE_KEY_EMAIL_INDEX).execute(&mut *tx).await {
            if !is_unique_violation(&e) {
                return Err(e.to_string());
            }
            sqlx::query("ROLLBACK TO SAVEPOINT key_index")
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            let pairs: Vec<(String, String)> = sqlx::query_as(concat!(
                "SELECT a.id::text, b.id::text FROM \"user\" a JOIN \"user\" b ON ",
                "translate(a.email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = ",
                "translate(b.email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') ",
                "AND a.id < b.id LIMIT 11"
            ))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
            return Err(conflict_message("\"user\"", &pairs));
        }
        tx.commit().await.map_err(|e| e.to_string())
    }
}

/// Rewrites stored emails that are not in canonical form (an older version of this crate
/// lower-cased the domain only, keeping `xn--` labels, fullwidth forms and non-NFC local parts),
/// so that lookups by the canonical form reach them; refuses, naming the rows, when two of them
/// are one mailbox. Only rows that can differ from their canonical form (with a non-ASCII
/// character, an upper-case letter, or `xn--`) are read.
async fn canonicalise_emails(tx: &mut sqlx::PgTransaction<'_>) -> Result<(), String> {
    let err = |e: sqlx::Error| e.to_string();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id::text, email FROM \"user\" WHERE email ~ '[^\\x20-\\x7E]' \
         OR email ~ '@.*[\\x41-\\x5A]' OR email ~* 'xn--'",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(err)?;
    let (rewrites, mut conflicts) = plan_rewrites(rows);
    for rewrite in &rewrites {
        let other: Option<String> = sqlx::query_scalar(concat!(
            "SELECT id::text FROM \"user\" WHERE ",
            email_key_sql!(),
            " = $1 AND id::text <> $2 LIMIT 1"
        ))
        .bind(rewrite.canonical.to_ascii_lowercase())
        .bind(&rewrite.id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(err)?;
        conflicts.extend(other.map(|other| (other, rewrite.id.clone())));
    }
    if !conflicts.is_empty() {
        return Err(conflict_message("\"user\"", &conflicts));
    }
    for rewrite in &rewrites {
        sqlx::query("UPDATE \"user\" SET email = $1 WHERE id::text = $2")
            .bind(&rewrite.canonical)
            .bind(&rewrite.id)
            .execute(&mut **tx)
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

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

fn backend(error: sqlx::Error) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::EmailTaken
    } else if is_data_exception(&error) {
        StoreError::Rejected(Box::new(error))
    } else {
        StoreError::Backend(Box::new(error))
    }
}

/// SQLSTATE class 22, "data exception": the server refused a value (a NUL byte in text, a string
/// too long for its column, a bad encoding), so the request was at fault, not the database.
fn is_data_exception(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().is_some_and(|code| code.starts_with("22")))
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
            // No valid address, no user (and no NUL, which PostgreSQL refuses, reaches it).
            let Some(key) = lookup_key(email) else {
                return Ok(None);
            };
            let row = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM \"user\" WHERE ",
                email_key_sql!(),
                " = $1"
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

    fn update_unless_last_superuser<'a>(
        &'a self,
        id: Uuid,
        patch: &'a UserPatch,
    ) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            // Only a patch that takes a flag away can end a superuser.
            if patch.is_active == Some(false) || patch.is_superuser == Some(false) {
                lock_superuser_changes(&mut tx).await?;
            }
            let row = sqlx::query(concat!(
                "UPDATE \"user\" SET email = COALESCE($1, email), \
                 hashed_password = COALESCE($2, hashed_password), \
                 is_active = COALESCE($3, is_active), is_superuser = COALESCE($4, is_superuser), \
                 is_verified = COALESCE($5, is_verified) WHERE id = $6 AND (",
                postgres_keeps_a_superuser!("COALESCE($4, is_superuser) AND COALESCE($3, is_active)"),
                ") RETURNING ",
                columns!()
            ))
            .bind(patch.email.as_deref())
            .bind(patch.hashed_password.as_deref())
            .bind(patch.is_active)
            .bind(patch.is_superuser)
            .bind(patch.is_verified)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            let result = match row {
                Some(row) => row_to_user(&row).map(Some),
                None => refused_or_missing(&mut tx, id).await.map(|()| None),
            };
            tx.commit().await.map_err(backend)?;
            result
        })
    }

    fn delete_unless_last_superuser(&self, id: Uuid) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            lock_superuser_changes(&mut tx).await?;
            let done = sqlx::query(concat!(
                "DELETE FROM \"user\" WHERE id = $1 AND (",
                postgres_keeps_a_superuser!("false"),
                ")"
            ))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            let result = if done.rows_affected() > 0 {
                Ok(true)
            } else {
                refused_or_missing(&mut tx, id).await.map(|()| false)
            };
            tx.commit().await.map_err(backend)?;
            result
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

/// The key of the transaction-level advisory lock that serialises writes which may end a
/// superuser (any number in the bigint range; this one spells "lastsupr").
const LAST_SUPERUSER_LOCK: i64 = 0x6c61_7374_7375_7072;

/// Takes the advisory lock until the transaction ends. Every demotion, deactivation and delete
/// through the guard takes it first, so they run one at a time and each statement (READ
/// COMMITTED: a fresh snapshot) sees the ones before it; locking the superusers' rows instead
/// could deadlock with a concurrent write that made a new superuser.
async fn lock_superuser_changes(tx: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LAST_SUPERUSER_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(())
}

/// After a guarded write touched no row: `LastSuperuser` if the user exists (the guard refused),
/// `Ok` if there is no such user.
async fn refused_or_missing(tx: &mut PgConnection, id: Uuid) -> Result<(), StoreError> {
    let exists = sqlx::query("SELECT 1 FROM \"user\" WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .is_some();
    if exists {
        Err(StoreError::LastSuperuser)
    } else {
        Ok(())
    }
}

/// Moves `user`'s session generation on, in the caller's transaction.
pub(crate) async fn bump_generation(conn: &mut PgConnection, user: Uuid) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO token_generation (user_id, generation) VALUES ($1, 1) \
         ON CONFLICT (user_id) DO UPDATE SET generation = token_generation.generation + 1",
    )
    .bind(user)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Takes `user`'s session lock until the caller's transaction ends: the database strategy's
/// token inserts and session ends of one user take turns.
pub(crate) async fn lock_sessions(conn: &mut PgConnection, user: Uuid) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7361626466))")
        .bind(user)
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(())
}

fn status_of(row: &PgRow) -> Result<TokenStatus, StoreError> {
    let generation: Option<i64> = row.try_get("generation").map_err(backend)?;
    Ok(TokenStatus {
        revoked: row.try_get("revoked").map_err(backend)?,
        generation: generation.map_or(0, |g| u64::try_from(g).unwrap_or(0)),
    })
}

/// The stored hashes per [`hash_prefix`](crate::password::hash_prefix) (computed alike: argon2
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

    fn generation(&self, user: Uuid) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let generation: Option<i64> =
                sqlx::query_scalar("SELECT generation FROM token_generation WHERE user_id = $1")
                    .bind(user)
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
                "SELECT EXISTS (SELECT 1 FROM token_denylist WHERE token_id = $1 AND expires_at >= $2) AS revoked, \
                 (SELECT generation FROM token_generation WHERE user_id = $3) AS generation",
            )
            .bind(token_id)
            .bind(seconds(now()))
            .bind(user)
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
            let row = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                ", EXISTS (SELECT 1 FROM token_denylist WHERE token_id = $1 AND expires_at >= $2) AS revoked, \
                 (SELECT generation FROM token_generation WHERE user_id = $3) AS generation \
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
            Ok((status_of(&row)?, Some(row_to_user(&row)?)))
        })
    }
}

/// Seconds as SQL's `BIGINT`.
fn seconds(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}
