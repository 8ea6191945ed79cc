//! PostgreSQL's migration sets (`migrations/postgres/`) and the lock they run under.

use sqlx::Transaction;
use sqlx::postgres::{PgPool, Postgres};

use crate::store::migrations::{Embedded, embedded, migrator};
use login_runtime::BoxError;

/// The users' tables: `"user"` (FastAPI Users'), `token_denylist`, `token_generation`.
pub(super) const USERS: &[Embedded] = &[embedded!("postgres", "0001_users")];
/// FastAPI Users' `accesstoken`, for `DatabaseStrategy`.
pub(super) const ACCESS_TOKENS: &[Embedded] = &[embedded!("postgres", "0002_access_tokens")];
/// `refresh_family` and `refresh_token`, for `PostgresRefreshStore`.
pub(super) const REFRESH_TOKENS: &[Embedded] = &[embedded!("postgres", "0003_refresh_tokens")];

/// Serialises the migrations of instances starting at once: the transaction-scoped advisory lock
/// every version of this crate has taken, so that an instance of an earlier version (which runs
/// its `CREATE … IF NOT EXISTS` under it) and one of this version take turns too. sqlx's own
/// migration lock (a session lock keyed on the database's name) is not used.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7361626465)";

/// Takes the migration lock in a new transaction and applies `set`'s pending versions in it,
/// returned open so that the caller's data steps run under the same lock, in the same
/// transaction, before it commits: all of a start's migration happens, or none of it. Of
/// instances starting together, the first migrates while the others wait; they then find the
/// versions recorded and do nothing.
pub(super) async fn begin_and_apply(
    pool: &PgPool,
    set: &'static [Embedded],
) -> Result<Transaction<'static, Postgres>, BoxError> {
    let mut tx = pool.begin().await?;
    sqlx::query(MIGRATION_LOCK).execute(&mut *tx).await?;
    // The migrator's own transactions become savepoints of this one. `run_direct` is what
    // `Migrator::run` calls; taking the connection itself keeps the future `Send` for every
    // lifetime (what sqlx exposes it for: "`Acquire` is not general enough").
    migrator(set).run_direct(None, &mut *tx, false).await?;
    Ok(tx)
}

/// Applies `set`'s pending versions, under the migration lock, and commits.
pub(super) async fn apply(pool: &PgPool, set: &'static [Embedded]) -> Result<(), BoxError> {
    let tx = begin_and_apply(pool, set).await?;
    Ok(tx.commit().await?)
}

#[cfg(test)]
mod tests {
    use super::{ACCESS_TOKENS, REFRESH_TOKENS, USERS};

    #[test]
    fn the_sets_are_the_folder() {
        crate::store::migrations::tests::sets_match_the_folder(
            "postgres",
            &[USERS, ACCESS_TOKENS, REFRESH_TOKENS],
        );
    }
}
