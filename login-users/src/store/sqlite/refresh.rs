//! Refresh-token families in the users' SQLite database (feature `sqlite`).

use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use uuid::Uuid;

use crate::claims::now;
use crate::store::refresh::{Family, IssuedAccess, Presented, RefreshStore, Rotation};
use crate::store::sqlite::SqliteStore;
use crate::store::{StoreError, StoreFuture};
use login_runtime::ConfigError;

/// Refresh-token families in the SQLite database of a [`SqliteStore`]: tables `refresh_family`
/// and `refresh_token` (token hashes only), made at [`new`](Self::new) if absent (a migration of
/// their own, so a database without refresh tokens has none). SQLite runs
/// one write transaction at a time, which makes a rotation and a family's end atomic.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use login_users::{REFRESH_TOKEN_LIFETIME, SqliteRefreshStore, SqliteStore, Users};
///
/// let dir = std::env::temp_dir().join(format!("doc-{}", uuid::Uuid::new_v4()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("users.db").display())).await?;
/// let users = Users::builder(Arc::new(store.clone()))
///     .revocation(Arc::new(store.clone()))
///     .refresh_tokens(Arc::new(SqliteRefreshStore::new(&store).await?), REFRESH_TOKEN_LIFETIME)
///     .secret("a secret of at least thirty-two bytes!")
///     .build()?;
/// assert!(users.refresh_enabled());
/// # Ok::<(), login_runtime::ConfigError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct SqliteRefreshStore {
    pool: SqlitePool,
}

impl SqliteRefreshStore {
    /// On `store`'s database, applying the refresh tables' migration
    /// (`migrations/sqlite/0003_refresh_tokens.sql`) if it is pending; the error names
    /// `DATABASE_URL`.
    pub async fn new(store: &SqliteStore) -> Result<Self, ConfigError> {
        let pool = store.pool().clone();
        super::migrations::apply(&pool, super::migrations::REFRESH_TOKENS)
            .await
            .map_err(|e| {
                ConfigError::new("DATABASE_URL", format!("cannot create the refresh tables: {e}"))
            })?;
        Ok(Self { pool })
    }
}

fn backend(error: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// Seconds as SQL's `BIGINT`.
fn seconds(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn unsigned(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}

fn family_of(row: &SqliteRow) -> Result<Family, StoreError> {
    let user: String = row.try_get("user_id").map_err(backend)?;
    Ok(Family {
        id: row.try_get("id").map_err(backend)?,
        user: Uuid::parse_str(&user).map_err(|e| StoreError::Backend(Box::new(e)))?,
        generation: unsigned(row.try_get("generation").map_err(backend)?),
        expires_at: unsigned(row.try_get("expires_at").map_err(backend)?),
    })
}

impl RefreshStore for SqliteRefreshStore {
    fn start<'a>(
        &'a self,
        family: &'a Family,
        token: &'a str,
        access: &'a IssuedAccess,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let now = seconds(now());
            let mut tx = self.pool.begin().await.map_err(backend)?;
            // Families that expired go, with their tokens.
            sqlx::query(
                "DELETE FROM refresh_token WHERE family_id IN (SELECT id FROM refresh_family WHERE expires_at <= ?)",
            )
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query("DELETE FROM refresh_family WHERE expires_at <= ?")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query(
                "INSERT INTO refresh_family (id, user_id, generation, expires_at, revoked) VALUES (?, ?, ?, ?, 0)",
            )
            .bind(&family.id)
            .bind(family.user.to_string())
            .bind(seconds(family.generation))
            .bind(seconds(family.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query(
                "INSERT INTO refresh_token (token_hash, family_id, spent, access_id, access_expires_at) \
                 VALUES (?, ?, 0, ?, ?)",
            )
            .bind(token)
            .bind(&family.id)
            .bind(&access.token_id)
            .bind(seconds(access.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)
        })
    }

    fn find<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Presented> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT t.spent, f.id, f.user_id, f.generation, f.expires_at, f.revoked \
                 FROM refresh_token t JOIN refresh_family f ON f.id = t.family_id WHERE t.token_hash = ?",
            )
            .bind(token)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            let Some(row) = row else {
                return Ok(Presented::Unknown);
            };
            let family = family_of(&row)?;
            let revoked: bool = row.try_get("revoked").map_err(backend)?;
            if revoked || family.expires_at <= now() {
                return Ok(Presented::Ended);
            }
            Ok(if row.try_get("spent").map_err(backend)? {
                Presented::Spent(family)
            } else {
                Presented::Live(family)
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
            let mut tx = self.pool.begin().await.map_err(backend)?;
            // A write first: the transaction holds SQLite's write lock from here on, so nothing
            // interleaves (a revocation, another rotation) until it ends.
            let spent = sqlx::query(
                "UPDATE refresh_token SET spent = 1 WHERE token_hash = ? AND family_id = ? AND spent = 0 \
                 AND EXISTS (SELECT 1 FROM refresh_family WHERE id = ? AND revoked = 0 AND expires_at > ?)",
            )
            .bind(token)
            .bind(&family.id)
            .bind(&family.id)
            .bind(seconds(now()))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if spent.rows_affected() == 0 {
                let row = sqlx::query(
                    "SELECT t.spent, f.revoked, f.expires_at FROM refresh_token t \
                     JOIN refresh_family f ON f.id = t.family_id WHERE t.token_hash = ? AND f.id = ?",
                )
                .bind(token)
                .bind(&family.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                tx.rollback().await.map_err(backend)?;
                let Some(row) = row else {
                    return Ok(Rotation::Ended);
                };
                let revoked: bool = row.try_get("revoked").map_err(backend)?;
                let expires_at: i64 = row.try_get("expires_at").map_err(backend)?;
                if revoked || unsigned(expires_at) <= now() {
                    return Ok(Rotation::Ended);
                }
                return Ok(Rotation::Spent);
            }
            sqlx::query(
                "INSERT INTO refresh_token (token_hash, family_id, spent, access_id, access_expires_at) \
                 VALUES (?, ?, 0, ?, ?)",
            )
            .bind(next)
            .bind(&family.id)
            .bind(&access.token_id)
            .bind(seconds(access.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(Rotation::Rotated)
        })
    }

    fn revoke<'a>(&'a self, family: &'a str) -> StoreFuture<'a, Vec<IssuedAccess>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query("UPDATE refresh_family SET revoked = 1 WHERE id = ?")
                .bind(family)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            let rows = sqlx::query(
                "SELECT access_id, access_expires_at FROM refresh_token WHERE family_id = ? AND access_expires_at >= ?",
            )
            .bind(family)
            .bind(seconds(now()))
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            rows.iter()
                .map(|row| {
                    Ok(IssuedAccess {
                        token_id: row.try_get("access_id").map_err(backend)?,
                        expires_at: unsigned(row.try_get("access_expires_at").map_err(backend)?),
                    })
                })
                .collect()
        })
    }

    fn family_of_access<'a>(&'a self, access: &'a str) -> StoreFuture<'a, Option<(String, Uuid)>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT f.id, f.user_id FROM refresh_token t JOIN refresh_family f ON f.id = t.family_id \
                 WHERE t.access_id = ? AND f.revoked = 0",
            )
            .bind(access)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            let Some(row) = row else { return Ok(None) };
            let user: String = row.try_get("user_id").map_err(backend)?;
            let user = Uuid::parse_str(&user).map_err(|e| StoreError::Backend(Box::new(e)))?;
            Ok(Some((row.try_get("id").map_err(backend)?, user)))
        })
    }
}
