//! Refresh-token families in the users' PostgreSQL database (feature `postgres`).

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use uuid::Uuid;

use crate::claims::now;
use crate::store::postgres::PostgresStore;
use crate::store::refresh::{Family, IssuedAccess, Presented, RefreshStore, Rotation};
use crate::store::{StoreError, StoreFuture};
use login_runtime::ConfigError;

/// Refresh-token families in the PostgreSQL database of a [`PostgresStore`]: tables
/// `refresh_family` and `refresh_token` (token hashes only), made at [`new`](Self::new) if absent,
/// under the migration lock, so instances may start together.
///
/// A rotation holds a share lock on its family's row and spends the token with a conditional
/// `UPDATE` (of concurrent ones, PostgreSQL lets exactly one through); a family's end takes the
/// row's exclusive lock, so it waits for rotations in flight and sees the access tokens they
/// issued, and no rotation passes after it.
#[derive(Clone, Debug)]
pub struct PostgresRefreshStore {
    pool: PgPool,
}

impl PostgresRefreshStore {
    /// On `store`'s database, applying the refresh tables' migration
    /// (`migrations/postgres/0003_refresh_tokens.sql`) if it is pending, under the migration
    /// lock; the error names `DATABASE_URL`.
    pub async fn new(store: &PostgresStore) -> Result<Self, ConfigError> {
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

fn family_of(row: &PgRow) -> Result<Family, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    Ok(Family {
        id: id.trim_end().to_owned(),
        user: row.try_get("user_id").map_err(backend)?,
        generation: unsigned(row.try_get("generation").map_err(backend)?),
        expires_at: unsigned(row.try_get("expires_at").map_err(backend)?),
    })
}

impl RefreshStore for PostgresRefreshStore {
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
                "DELETE FROM refresh_token WHERE family_id IN (SELECT id FROM refresh_family WHERE expires_at <= $1)",
            )
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query("DELETE FROM refresh_family WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query(
                "INSERT INTO refresh_family (id, user_id, generation, expires_at, revoked) \
                 VALUES ($1, $2, $3, $4, false)",
            )
            .bind(&family.id)
            .bind(family.user)
            .bind(seconds(family.generation))
            .bind(seconds(family.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query(
                "INSERT INTO refresh_token (token_hash, family_id, spent, access_id, access_expires_at) \
                 VALUES ($1, $2, false, $3, $4)",
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
                 FROM refresh_token t JOIN refresh_family f ON f.id = t.family_id WHERE t.token_hash = $1",
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
            // The family's row, share-locked until the end of the transaction: a revocation
            // (exclusive) waits for this rotation, or this one sees it revoked.
            let live = sqlx::query(
                "SELECT 1 FROM refresh_family WHERE id = $1 AND NOT revoked AND expires_at > $2 FOR SHARE",
            )
            .bind(&family.id)
            .bind(seconds(now()))
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if live.is_none() {
                tx.rollback().await.map_err(backend)?;
                return Ok(Rotation::Ended);
            }
            // Of concurrent updates of one row, the first commits; the others re-check
            // `NOT spent` against its result and update nothing.
            let spent = sqlx::query(
                "UPDATE refresh_token SET spent = true WHERE token_hash = $1 AND family_id = $2 AND NOT spent \
                 RETURNING 1",
            )
            .bind(token)
            .bind(&family.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if spent.is_none() {
                let known =
                    sqlx::query("SELECT 1 FROM refresh_token WHERE token_hash = $1 AND family_id = $2")
                        .bind(token)
                        .bind(&family.id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                tx.rollback().await.map_err(backend)?;
                return Ok(if known.is_some() {
                    Rotation::Spent
                } else {
                    Rotation::Ended
                });
            }
            sqlx::query(
                "INSERT INTO refresh_token (token_hash, family_id, spent, access_id, access_expires_at) \
                 VALUES ($1, $2, false, $3, $4)",
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
            // Waits for the rotations holding the row; the next statement's snapshot (READ
            // COMMITTED) then sees the tokens they stored.
            sqlx::query("UPDATE refresh_family SET revoked = true WHERE id = $1")
                .bind(family)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            let rows = sqlx::query(
                "SELECT access_id, access_expires_at FROM refresh_token \
                 WHERE family_id = $1 AND access_expires_at >= $2",
            )
            .bind(family)
            .bind(seconds(now()))
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            rows.iter()
                .map(|row| {
                    let id: String = row.try_get("access_id").map_err(backend)?;
                    Ok(IssuedAccess {
                        token_id: id.trim_end().to_owned(),
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
                 WHERE t.access_id = $1 AND NOT f.revoked",
            )
            .bind(access)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            let Some(row) = row else { return Ok(None) };
            let id: String = row.try_get("id").map_err(backend)?;
            Ok(Some((
                id.trim_end().to_owned(),
                row.try_get("user_id").map_err(backend)?,
            )))
        })
    }
}
