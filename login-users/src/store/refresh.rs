//! Where refresh-token families live: the [`RefreshStore`] trait, its types and the in-memory
//! store. The rotation and reuse rules are [`refresh`](crate::refresh)'s.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

use crate::claims::now;
use crate::store::StoreFuture;

/// The length of a refresh token: 32 random bytes in unpadded base64url.
pub const REFRESH_TOKEN_LEN: usize = 43;

/// A family of refresh tokens: the chain one login started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// Random id (256 bits, base64url).
    pub id: String,
    /// Whose.
    pub user: Uuid,
    /// The user's session generation at the login: the family is good while it is current.
    pub generation: u64,
    /// Seconds since the epoch after which no token of the family works.
    pub expires_at: u64,
}

/// An access token issued from a family, recorded so that the family's end can deny-list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAccess {
    /// Its [`token_id`](crate::token_id) (the hex SHA-256 of the token).
    pub token_id: String,
    /// Its `exp`.
    pub expires_at: u64,
}

/// What a [`RefreshStore`] knows of a presented refresh token (by its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// No such token (never issued, or its family expired and was pruned).
    Unknown,
    /// Unspent, of a live family.
    Live(Family),
    /// Spent, of a live family: a reuse.
    Spent(Family),
    /// Of a family that ended (revoked or expired).
    Ended,
}

/// The outcome of [`RefreshStore::rotate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was spent by this call and its successor stored.
    Rotated,
    /// The token was spent already (a concurrent refresh won, or a replay): a reuse.
    Spent,
    /// The family ended (revoked or expired) or the token is not of it.
    Ended,
}

/// Storage of refresh-token families, shared by every instance (the users' SQLite or PostgreSQL
/// database, Redis, or memory for one process). Tokens are given as their hash
/// ([`token_id`](crate::token_id)).
pub trait RefreshStore: Send + Sync + 'static {
    /// Stores a new family, its first refresh token and the access token issued with it.
    fn start<'a>(
        &'a self,
        family: &'a Family,
        token: &'a str,
        access: &'a IssuedAccess,
    ) -> StoreFuture<'a, ()>;
    /// The token's family and state.
    fn find<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Presented>;
    /// One atomic step: spends `token` if it is unspent and `family` live, stores `next` in the
    /// family and records `access`. Never a read-then-write: of concurrent calls with one token,
    /// exactly one gets [`Rotation::Rotated`].
    fn rotate<'a>(
        &'a self,
        family: &'a Family,
        token: &'a str,
        next: &'a str,
        access: &'a IssuedAccess,
    ) -> StoreFuture<'a, Rotation>;
    /// Ends the family, atomically with respect to [`rotate`](Self::rotate): the access tokens
    /// issued from it (still unexpired) are returned, to be deny-listed, and no rotation succeeds
    /// after it.
    fn revoke<'a>(&'a self, family: &'a str) -> StoreFuture<'a, Vec<IssuedAccess>>;
    /// The live family the access token with this id was issued from, and its user.
    fn family_of_access<'a>(&'a self, access: &'a str) -> StoreFuture<'a, Option<(String, Uuid)>>;
}

/// A new random id or token: 32 bytes from the OS-seeded thread generator, unpadded base64url.
pub(crate) fn random_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Whether `token` could be a refresh token: 43 base64url characters. Anything else is refused
/// without a lookup.
pub(crate) fn is_refresh_token(token: &str) -> bool {
    token.len() == REFRESH_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Refresh-token families in memory, for tests and single-process apps.
#[derive(Default)]
pub struct MemoryRefreshStore {
    inner: Mutex<Families>,
}

#[derive(Default)]
struct Families {
    /// Family id → the family and whether it was revoked.
    families: HashMap<String, (Family, bool)>,
    /// Token hash → family id, spent.
    tokens: HashMap<String, (String, bool)>,
    /// Access token id → family id, `exp`.
    access: HashMap<String, (String, u64)>,
}

impl fmt::Debug for MemoryRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRefreshStore").finish_non_exhaustive()
    }
}

impl MemoryRefreshStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Families> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RefreshStore for MemoryRefreshStore {
    fn start<'a>(
        &'a self,
        family: &'a Family,
        token: &'a str,
        access: &'a IssuedAccess,
    ) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        let now = now();
        // Prune what expired.
        inner.families.retain(|_, (f, _)| f.expires_at > now);
        let Families {
            families,
            tokens,
            access: accesses,
        } = &mut *inner;
        tokens.retain(|_, (f, _)| families.contains_key(f));
        accesses.retain(|_, (f, exp)| *exp >= now && families.contains_key(f));
        families.insert(family.id.clone(), (family.clone(), false));
        tokens.insert(token.to_owned(), (family.id.clone(), false));
        accesses.insert(access.token_id.clone(), (family.id.clone(), access.expires_at));
        Box::pin(async { Ok(()) })
    }

    fn find<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Presented> {
        let inner = self.lock();
        let presented = match inner.tokens.get(token) {
            None => Presented::Unknown,
            Some((family, spent)) => match inner.families.get(family) {
                Some((family, false)) if family.expires_at > now() => {
                    if *spent {
                        Presented::Spent(family.clone())
                    } else {
                        Presented::Live(family.clone())
                    }
                }
                _ => Presented::Ended,
            },
        };
        Box::pin(async move { Ok(presented) })
    }

    fn rotate<'a>(
        &'a self,
        family: &'a Family,
        token: &'a str,
        next: &'a str,
        access: &'a IssuedAccess,
    ) -> StoreFuture<'a, Rotation> {
        let mut inner = self.lock();
        let live = matches!(inner.families.get(&family.id), Some((f, false)) if f.expires_at > now());
        let rotation = match inner.tokens.get_mut(token) {
            Some((of, _)) if !live || *of != family.id => Rotation::Ended,
            None => Rotation::Ended,
            Some((_, true)) => Rotation::Spent,
            Some((_, spent)) => {
                *spent = true;
                inner.tokens.insert(next.to_owned(), (family.id.clone(), false));
                inner
                    .access
                    .insert(access.token_id.clone(), (family.id.clone(), access.expires_at));
                Rotation::Rotated
            }
        };
        Box::pin(async move { Ok(rotation) })
    }

    fn revoke<'a>(&'a self, family: &'a str) -> StoreFuture<'a, Vec<IssuedAccess>> {
        let mut inner = self.lock();
        if let Some((_, revoked)) = inner.families.get_mut(family) {
            *revoked = true;
        }
        let now = now();
        let issued = inner
            .access
            .iter()
            .filter(|(_, (f, exp))| f == family && *exp >= now)
            .map(|(id, (_, exp))| IssuedAccess {
                token_id: id.clone(),
                expires_at: *exp,
            })
            .collect();
        Box::pin(async move { Ok(issued) })
    }

    fn family_of_access<'a>(&'a self, access: &'a str) -> StoreFuture<'a, Option<(String, Uuid)>> {
        let inner = self.lock();
        let found = inner
            .access
            .get(access)
            .and_then(|(family, _)| match inner.families.get(family) {
                Some((f, false)) => Some((f.id.clone(), f.user)),
                _ => None,
            });
        Box::pin(async move { Ok(found) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::revocation::token_id;

    fn family() -> Family {
        Family {
            id: random_token(),
            user: Uuid::new_v4(),
            generation: 0,
            expires_at: now() + 60,
        }
    }

    fn access() -> IssuedAccess {
        IssuedAccess {
            token_id: token_id(&random_token()),
            expires_at: now() + 60,
        }
    }

    #[tokio::test]
    async fn memory_store_rotates_once_and_revocation_returns_the_access_tokens() {
        let store = MemoryRefreshStore::default();
        let f = family();
        let (first, a1) = (token_id(&random_token()), access());
        store.start(&f, &first, &a1).await.unwrap();
        assert_eq!(store.find(&first).await.unwrap(), Presented::Live(f.clone()));
        let (second, a2) = (token_id(&random_token()), access());
        assert_eq!(
            store.rotate(&f, &first, &second, &a2).await.unwrap(),
            Rotation::Rotated
        );
        let third = token_id(&random_token());
        assert_eq!(
            store.rotate(&f, &first, &third, &access()).await.unwrap(),
            Rotation::Spent
        );
        assert_eq!(store.find(&first).await.unwrap(), Presented::Spent(f.clone()));
        assert_eq!(store.find(&third).await.unwrap(), Presented::Unknown);
        assert_eq!(
            store.family_of_access(&a2.token_id).await.unwrap(),
            Some((f.id.clone(), f.user))
        );
        let mut revoked = store.revoke(&f.id).await.unwrap();
        revoked.sort_by(|a, b| a.token_id.cmp(&b.token_id));
        let mut expected = vec![a1, a2];
        expected.sort_by(|a, b| a.token_id.cmp(&b.token_id));
        assert_eq!(revoked, expected);
        assert_eq!(store.find(&second).await.unwrap(), Presented::Ended);
        assert_eq!(
            store.rotate(&f, &second, &third, &access()).await.unwrap(),
            Rotation::Ended
        );
    }

    #[test]
    fn refresh_tokens_are_43_base64url_characters() {
        let token = random_token();
        assert!(is_refresh_token(&token), "{token}");
        assert!(!is_refresh_token(&token[1..]));
        assert!(!is_refresh_token(&format!("{}+", &token[1..])));
        assert!(!is_refresh_token(""));
    }
}
