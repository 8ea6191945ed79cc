//! PostgreSQL's `accesstoken` table (FastAPI Users' `SQLAlchemyBaseAccessTokenTableUUID`), for
//! [`DatabaseStrategy`](crate::DatabaseStrategy).

use std::time::SystemTime;

use sqlx::Row;
use uuid::Uuid;

use super::{bump_generation, lock_sessions};
use crate::store::access_tokens::{AccessTokenRecord, AccessTokenStore};
use crate::store::backend_error as backend;
use crate::store::sql_time::{from_micros, out_of_range, sql_timestamp};
use crate::store::{StoreError, StoreFuture};
use crate::{PostgresStore, RevocationStore};

/// A timestamp bound as text with an explicit UTC offset (no time-zone setting applies).
fn utc(t: SystemTime) -> Result<String, StoreError> {
    Ok(format!("{}+00", sql_timestamp(t).ok_or_else(|| out_of_range(t))?))
}

impl PostgresStore {
    /// Applies the access tokens' migration (`migrations/postgres/0002_access_tokens.sql`:
    /// FastAPI Users' `accesstoken` table and its index, adopted if they exist) if it is pending,
    /// for [`DatabaseStrategy`](crate::DatabaseStrategy), under the migration lock so that
    /// instances starting together do not race.
    pub async fn migrate_access_tokens(&self) -> Result<(), StoreError> {
        super::migrations::apply(self.pool(), super::migrations::ACCESS_TOKENS)
            .await
            .map_err(StoreError::Backend)
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
            .bind(utc(created_at)?)
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
            .bind(utc(created_after)?)
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
