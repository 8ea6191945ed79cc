//! FastAPI Users' database token strategy (features `sqlite`, `postgres`): opaque random tokens
//! kept in FastAPI Users' own `accesstoken` table, so that tokens an existing FastAPI Users
//! deployment wrote keep working, and the other way round.
//!
//! A token is good while its row exists and is younger than the access-token lifetime. Logout
//! deletes the row; a password change, a reset or a deactivation deletes every row of the user
//! (FastAPI Users leaves them alive) and moves the user's session generation on, so that a login
//! that read the old one cannot insert a row afterwards; deleting a user deletes its rows
//! (`ON DELETE cascade`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use crate::model::User;
use crate::store::access_tokens::AccessTokenStore;
use crate::store::sql_time::{from_micros, to_micros};
use crate::store::{StoreError, StoreFuture};
use crate::strategy::{TokenStrategy, is_opaque_token, opaque_token};
use login_runtime::Claims;
use login_runtime::LoginManager;

/// FastAPI Users' `DatabaseStrategy(database, lifetime_seconds)`, with the lifetime of the
/// access-token manager ([`UsersBuilder::lifetime`](crate::UsersBuilder::lifetime)).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use login_users::{DatabaseStrategy, SqliteStore, Users};
///
/// let store = Arc::new(SqliteStore::connect("sqlite://users.db").await?);
/// let tokens = Arc::new(DatabaseStrategy::new(store.clone()).await?); // `accesstoken` made if missing
/// let users = Users::builder(store)
///     .bearer_strategy(tokens.clone())
///     .cookie_strategy(tokens)
///     .secret("a secret of at least thirty-two bytes!")
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DatabaseStrategy {
    store: Arc<dyn AccessTokenStore>,
}

impl std::fmt::Debug for DatabaseStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseStrategy").finish_non_exhaustive()
    }
}

impl DatabaseStrategy {
    /// The strategy over `store`, whose table is created first if missing.
    pub async fn new(store: Arc<dyn AccessTokenStore>) -> Result<Self, StoreError> {
        store.create_table().await?;
        Ok(Self { store })
    }

    /// The strategy over `store`, whose table exists already.
    pub fn without_migration(store: Arc<dyn AccessTokenStore>) -> Self {
        Self { store }
    }
}

impl TokenStrategy for DatabaseStrategy {
    fn generation(&self, user: Uuid) -> StoreFuture<'_, Option<u64>> {
        Box::pin(async move { Ok(Some(self.store.generation(user).await?)) })
    }

    fn write_token<'a>(
        &'a self,
        _manager: &'a LoginManager,
        user: &'a User,
        generation: Option<u64>,
    ) -> StoreFuture<'a, Option<String>> {
        let token = opaque_token();
        let created_at = from_micros(to_micros(SystemTime::now()));
        Box::pin(async move {
            let generation = match generation {
                Some(generation) => generation,
                None => self.store.generation(user.id).await?,
            };
            let stored = self
                .store
                .insert_token(&token, user.id, created_at, generation)
                .await?;
            Ok(stored.then_some(token))
        })
    }

    fn read_token<'a>(
        &'a self,
        manager: &'a LoginManager,
        token: &'a str,
    ) -> StoreFuture<'a, Option<Claims>> {
        Box::pin(async move {
            if !is_opaque_token(token) {
                return Ok(None);
            }
            let lifetime = manager.expiry();
            let cut_off = SystemTime::now().checked_sub(lifetime).unwrap_or(UNIX_EPOCH);
            let Some(row) = self.store.find_token(token, cut_off).await? else {
                return Ok(None);
            };
            // Whole seconds, rounded up: the token is good until then.
            let created = u64::try_from(to_micros(row.created_at).max(0))
                .unwrap_or(0)
                .div_ceil(1_000_000);
            let exp = created.saturating_add(lifetime.as_secs());
            Ok(Some(Claims::new(row.user_id.to_string(), exp)))
        })
    }

    fn destroy_token<'a>(&'a self, _manager: &'a LoginManager, token: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if is_opaque_token(token) {
                self.store.delete_token(token).await?;
            }
            Ok(())
        })
    }

    fn destroy_all<'a>(&'a self, user: &'a User) -> StoreFuture<'a, ()> {
        self.store.end_sessions(user.id)
    }
}

#[cfg(test)]
mod tests {
    use crate::OPAQUE_TOKEN_LEN;
    use crate::strategy::{is_opaque_token, opaque_token};

    #[test]
    fn tokens_are_token_urlsafe() {
        let (a, b) = (opaque_token(), opaque_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), OPAQUE_TOKEN_LEN);
        assert!(is_opaque_token(&a) && is_opaque_token(&b));
        assert!(!is_opaque_token(""));
        assert!(!is_opaque_token(&"a".repeat(44)));
        assert!(!is_opaque_token("abc.def"));
        assert!(!is_opaque_token("abc=="));
        assert!(!is_opaque_token("ab c"));
    }
}
