//! SQLite's migration sets (`migrations/sqlite/`) and the lock they run under.

use sqlx::Transaction;
use sqlx::sqlite::{Sqlite, SqlitePool};

use crate::store::migrations::{Embedded, embedded, migrator};
use login_runtime::BoxError;

/// The users' tables: `user` (FastAPI Users'), `token_denylist`, `token_generation`.
pub(super) const USERS: &[Embedded] = &[embedded!("sqlite", "0001_users")];
/// FastAPI Users' `accesstoken`, for `DatabaseStrategy`.
pub(super) const ACCESS_TOKENS: &[Embedded] = &[embedded!("sqlite", "0002_access_tokens")];
/// `refresh_family` and `refresh_token`, for `SqliteRefreshStore`.
pub(super) const REFRESH_TOKENS: &[Embedded] = &[embedded!("sqlite", "0003_refresh_tokens")];

/// Applies `set`'s pending versions inside a transaction begun with `BEGIN IMMEDIATE`, returned
/// open so that the caller's data steps run under the same lock before it commits.
///
/// `IMMEDIATE` takes the database's write lock at once, so of instances (processes) starting
/// together on one file, one migrates while the others wait (the pool's busy timeout), then find
/// the versions recorded and do nothing. A deferred transaction would let two read the history,
/// both find a version missing, and the second fail on writing it.
pub(super) async fn begin_and_apply(
    pool: &SqlitePool,
    set: &'static [Embedded],
) -> Result<Transaction<'static, Sqlite>, BoxError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    // The migrator's own transactions become savepoints of this one. `run_direct` is what
    // `Migrator::run` calls; taking the connection itself keeps the future `Send` for every
    // lifetime (what sqlx exposes it for: "`Acquire` is not general enough").
    migrator(set).run_direct(None, &mut *tx, false).await?;
    Ok(tx)
}

/// Applies `set`'s pending versions, under the write lock, and commits.
pub(super) async fn apply(pool: &SqlitePool, set: &'static [Embedded]) -> Result<(), BoxError> {
    let tx = begin_and_apply(pool, set).await?;
    Ok(tx.commit().await?)
}

#[cfg(test)]
mod tests {
    use super::{ACCESS_TOKENS, REFRESH_TOKENS, USERS};

    #[test]
    fn the_sets_are_the_folder() {
        crate::store::migrations::tests::sets_match_the_folder(
            "sqlite",
            &[USERS, ACCESS_TOKENS, REFRESH_TOKENS],
        );
    }
}
