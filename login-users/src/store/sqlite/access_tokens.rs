//! SQLite's `accesstoken` table (FastAPI Users' `SQLAlchemyBaseAccessTokenTableUUID`), for
//! [`DatabaseStrategy`](crate::DatabaseStrategy).

use std::time::SystemTime;

use sqlx::Row;
use uuid::Uuid;

use super::bump_generation;
use crate::store::access_tokens::{AccessTokenRecord, AccessTokenStore};
use crate::store::backend_error as backend;
use crate::store::sql_time::{out_of_range, parse_sql_timestamp, sql_timestamp};
use crate::store::{StoreError, StoreFuture};
use crate::{RevocationStore, SqliteStore};

impl SqliteStore {
    /// Applies the access tokens' migration (`migrations/sqlite/0002_access_tokens.sql`:
    /// FastAPI Users' `accesstoken` table and its index, adopted if they exist) if it is pending,
    /// for [`DatabaseStrategy`](crate::DatabaseStrategy), under the database's write lock. The
    /// store's connections enforce its foreign key, so deleting a user deletes its tokens.
    pub async fn migrate_access_tokens(&self) -> Result<(), StoreError> {
        super::migrations::apply(self.pool(), super::migrations::ACCESS_TOKENS)
            .await
            .map_err(StoreError::Backend)
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
            .bind(sql_timestamp(created_at).ok_or_else(|| out_of_range(created_at))?)
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
            .bind(sql_timestamp(created_after).ok_or_else(|| out_of_range(created_after))?)
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
