//! Where users live: the [`UserStore`] trait and the in-memory store.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod access_tokens;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod migrations;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod refresh;
pub(crate) mod revocation;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod sql_time;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::RwLock;

use uuid::Uuid;

use crate::model::{User, UserPatch};
use login_runtime::BoxError;

/// A backend's error as a [`StoreError::Backend`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn backend_error(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// A boxed future of a store operation (stores are used as `Arc<dyn UserStore>`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Another user has this email (compared case-insensitively). Stores must detect this
    /// atomically (a unique index), so that concurrent inserts of one email cannot both succeed.
    EmailTaken,
    /// The operation would leave no active superuser: refused by
    /// [`UserStore::update_unless_last_superuser`] and [`UserStore::delete_unless_last_superuser`].
    LastSuperuser,
    /// The database failed; answered 500 and logged.
    Backend(BoxError),
    /// The database refused a value that came from the request (PostgreSQL: a NUL byte in text,
    /// a string too long for its column, SQLSTATE class 22): the routes answer 422, never 500.
    /// Input is checked before it reaches a store, so this is a second line of defence.
    Rejected(BoxError),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmailTaken => f.write_str("a user with this email already exists"),
            Self::LastSuperuser => f.write_str("the last active superuser cannot be removed"),
            Self::Backend(e) => write!(f, "user store failed: {e}"),
            Self::Rejected(e) => write!(f, "the user store refused a value: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Backend(e) | Self::Rejected(e) => Some(e.as_ref()),
            Self::EmailTaken | Self::LastSuperuser => None,
        }
    }
}

/// Storage for users. Emails are stored in canonical form ([`normalize_email`](crate::normalize_email);
/// [`Users`](crate::Users) does it) and unique under [`email_key`]: [`get_by_email`](Self::get_by_email)
/// matches any spelling of the address (and no user for a string that is no address), and [`create`](Self::create) / [`update`](Self::update) fail with
/// [`StoreError::EmailTaken`] atomically.
///
/// Implemented by [`MemoryStore`] and, with the `sqlite` feature, `SqliteStore`.
pub trait UserStore: Send + Sync + 'static {
    /// The user with this id.
    fn get(&self, id: Uuid) -> StoreFuture<'_, Option<User>>;
    /// The user with this email, in any case.
    fn get_by_email<'a>(&'a self, email: &'a str) -> StoreFuture<'a, Option<User>>;
    /// Inserts a user; `EmailTaken` if the email is in use.
    fn create(&self, user: User) -> StoreFuture<'_, User>;
    /// Sets the patch's columns; the updated user, or `None` if there is no such user.
    fn update<'a>(&'a self, id: Uuid, patch: &'a UserPatch) -> StoreFuture<'a, Option<User>>;
    /// Deletes a user; whether there was one.
    fn delete(&self, id: Uuid) -> StoreFuture<'_, bool>;
    /// [`update`](Self::update), unless the user is an active superuser whom the patch would
    /// demote or deactivate while no other active superuser exists: then
    /// [`StoreError::LastSuperuser`] and nothing changes. The check and the write are one atomic
    /// step, so two superusers demoting each other at once cannot both succeed.
    fn update_unless_last_superuser<'a>(
        &'a self,
        id: Uuid,
        patch: &'a UserPatch,
    ) -> StoreFuture<'a, Option<User>>;
    /// [`delete`](Self::delete), unless the user is the last active superuser: then
    /// [`StoreError::LastSuperuser`]. Atomic, as
    /// [`update_unless_last_superuser`](Self::update_unless_last_superuser).
    fn delete_unless_last_superuser(&self, id: Uuid) -> StoreFuture<'_, bool>;

    /// How many stored password hashes there are of each kind: the
    /// [`hash_prefix`](crate::password::hash_prefix) of each (algorithm and parameters, up to the
    /// salt: `$argon2id$v=19$m=65536,t=3,p=4$`, `$2b$12$`; empty for anything else) with its
    /// count. Failed logins are answered no sooner than the most expensive kind present takes to
    /// verify, so that their timing does not tell which accounts exist (see
    /// [`password`](crate::password)); one aggregate query, taken every few minutes.
    ///
    /// The default, `None` ("cannot tell"), is taken to mean that FastAPI Users' hashes (pwdlib's
    /// argon2id m=65536,t=3,p=4 and bcrypt-12) may be present, the safe side: implement it to
    /// answer failures as soon as your hashes allow.
    fn hash_census(&self) -> StoreFuture<'_, Option<Vec<(String, u64)>>> {
        Box::pin(async { Ok(None) })
    }
}

/// Whether `user` is an active superuser who would stop being one if `is_active` and
/// `is_superuser` (a patch's, `None` for "unchanged") were applied.
pub(crate) fn ends_a_superuser(user: &User, is_active: Option<bool>, is_superuser: Option<bool>) -> bool {
    user.is_superuser && user.is_active && !(is_superuser.unwrap_or(true) && is_active.unwrap_or(true))
}

pub use crate::email::email_key;

/// Users in a map, for tests and prototypes; everything is lost on exit.
///
/// ```
/// # tokio_test_block(async {
/// use login_users::{MemoryStore, User, UserStore};
///
/// let store = MemoryStore::default();
/// let ann = store.create(User::new("Ann@example.com", "$argon2id$…")).await?;
/// assert_eq!(store.get_by_email("ann@EXAMPLE.com").await?.map(|u| u.id), Some(ann.id));
/// assert!(store.create(User::new("ANN@example.com", "…")).await.is_err());
/// # Ok::<(), login_users::StoreError>(())
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Maps>,
}

#[derive(Default)]
struct Maps {
    users: HashMap<Uuid, User>,
    by_email: HashMap<String, Uuid>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.inner.read().map_or(0, |m| m.users.len());
        f.debug_struct("MemoryStore").field("users", &count).finish()
    }
}

impl MemoryStore {
    fn read<T>(&self, f: impl FnOnce(&Maps) -> T) -> T {
        f(&self
            .inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Maps) -> T) -> T {
        f(&mut self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl UserStore for MemoryStore {
    fn get(&self, id: Uuid) -> StoreFuture<'_, Option<User>> {
        let user = self.read(|m| m.users.get(&id).cloned());
        Box::pin(async move { Ok(user) })
    }

    fn get_by_email<'a>(&'a self, email: &'a str) -> StoreFuture<'a, Option<User>> {
        let key = crate::email::lookup_key(email);
        let user = self.read(|m| {
            key.and_then(|key| m.by_email.get(&key))
                .and_then(|id| m.users.get(id).cloned())
        });
        Box::pin(async move { Ok(user) })
    }

    fn create(&self, user: User) -> StoreFuture<'_, User> {
        let result = self.write(|m| {
            let key = email_key(&user.email);
            if m.by_email.contains_key(&key) {
                return Err(StoreError::EmailTaken);
            }
            m.by_email.insert(key, user.id);
            m.users.insert(user.id, user.clone());
            Ok(user)
        });
        Box::pin(async move { result })
    }

    fn update<'a>(&'a self, id: Uuid, patch: &'a UserPatch) -> StoreFuture<'a, Option<User>> {
        let result = self.write(|m| m.update(id, patch));
        Box::pin(async move { result })
    }

    fn delete(&self, id: Uuid) -> StoreFuture<'_, bool> {
        let existed = self.write(|m| m.delete(id));
        Box::pin(async move { Ok(existed) })
    }

    fn update_unless_last_superuser<'a>(
        &'a self,
        id: Uuid,
        patch: &'a UserPatch,
    ) -> StoreFuture<'a, Option<User>> {
        // Checked and applied under one write lock.
        let result = self.write(|m| {
            if m.users.get(&id).is_some_and(|user| {
                ends_a_superuser(user, patch.is_active, patch.is_superuser) && !m.other_superuser(id)
            }) {
                return Err(StoreError::LastSuperuser);
            }
            m.update(id, patch)
        });
        Box::pin(async move { result })
    }

    fn delete_unless_last_superuser(&self, id: Uuid) -> StoreFuture<'_, bool> {
        let result = self.write(|m| {
            if m.users
                .get(&id)
                .is_some_and(|user| ends_a_superuser(user, Some(false), None) && !m.other_superuser(id))
            {
                return Err(StoreError::LastSuperuser);
            }
            Ok(m.delete(id))
        });
        Box::pin(async move { result })
    }

    fn hash_census(&self) -> StoreFuture<'_, Option<Vec<(String, u64)>>> {
        let census = self.read(|m| {
            let mut counts: HashMap<&str, u64> = HashMap::new();
            for user in m.users.values() {
                *counts
                    .entry(crate::password::hash_prefix(&user.hashed_password))
                    .or_insert(0) += 1;
            }
            counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect()
        });
        Box::pin(async move { Ok(Some(census)) })
    }
}

impl Maps {
    fn update(&mut self, id: Uuid, patch: &UserPatch) -> Result<Option<User>, StoreError> {
        let Some(user) = self.users.get_mut(&id) else {
            return Ok(None);
        };
        if let Some(email) = &patch.email {
            let key = email_key(email);
            if self.by_email.get(&key).is_some_and(|owner| *owner != id) {
                return Err(StoreError::EmailTaken);
            }
            self.by_email.remove(&email_key(&user.email));
            self.by_email.insert(key, id);
        }
        patch.apply(user);
        Ok(Some(user.clone()))
    }

    fn delete(&mut self, id: Uuid) -> bool {
        match self.users.remove(&id) {
            Some(user) => {
                self.by_email.remove(&email_key(&user.email));
                true
            }
            None => false,
        }
    }

    /// Whether an active superuser other than `id` exists.
    fn other_superuser(&self, id: Uuid) -> bool {
        self.users
            .values()
            .any(|u| u.id != id && u.is_superuser && u.is_active)
    }
}

/// `url` with its password (user-info or `password=` parameter) replaced by `***`, for error
/// messages: a database URL may carry a secret.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail: Vec<String> = tail
        .split('&')
        .map(|part| match part.split_once("password=") {
            Some((before, _)) => format!("{before}password=***"),
            None => part.to_owned(),
        })
        .collect();
    format!("{scheme}://{authority}{}", tail.join("&"))
}

#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_in_urls_are_redacted() {
        for (url, shown) in [
            (
                "postgres://ann:s3cret@db:5432/app",
                "postgres://ann:***@db:5432/app",
            ),
            (
                "postgres://db/app?user=ann&password=s3cret",
                "postgres://db/app?user=ann&password=***",
            ),
            ("postgres://ann@db/app", "postgres://ann@db/app"),
            ("sqlite://users.db", "sqlite://users.db"),
        ] {
            assert_eq!(redact_password(url), shown);
        }
    }
}
