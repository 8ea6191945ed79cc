//! FastAPI Users' `AccessTokenDatabase`: where [`DatabaseStrategy`](crate::DatabaseStrategy)
//! keeps its opaque tokens. `SqliteStore` and `PostgresStore` implement it (in their folders).

use std::time::SystemTime;

use uuid::Uuid;

use crate::store::StoreFuture;

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
