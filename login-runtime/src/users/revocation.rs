//! JWT revocation, which neither FastAPI Users nor fastapi-login has: a logout makes that token
//! invalid (a deny-list entry kept until the token's own `exp`), and a password change or reset
//! makes every token issued before it invalid (a per-user "not before" time). Kept in a
//! [`RevocationStore`]: the same SQLite or PostgreSQL database as the users, or memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::User;
use super::store::StoreFuture;
use crate::token::now;

/// What a [`RevocationStore`] knows of one token and its user, read in one lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenStatus {
    /// The token was logged out.
    pub revoked: bool,
    /// Tokens of the user issued before this time (seconds since the epoch) are refused.
    pub not_before: Option<u64>,
}

/// Storage of revoked tokens and per-user "not before" times. Every instance behind a load
/// balancer must share one (the database they share), so a revocation is seen by all of them at
/// once: each request reads it afresh, in one round trip.
pub trait RevocationStore: Send + Sync + 'static {
    /// Refuses the token with this id (see [`token_id`]) until `until`, its `exp`.
    fn revoke<'a>(&'a self, token_id: &'a str, until: u64) -> StoreFuture<'a, ()>;
    /// Refuses every token of `user` issued before `at`.
    fn revoke_before(&self, user: Uuid, at: u64) -> StoreFuture<'_, ()>;
    /// The token's and its user's status, in one lookup.
    fn status<'a>(&'a self, token_id: &'a str, user: Uuid) -> StoreFuture<'a, TokenStatus>;
    /// [`status`](Self::status) and the user's row, in one lookup where the store keeps the
    /// users too (SQLite, PostgreSQL); by default the status alone.
    fn status_with_user<'a>(
        &'a self,
        token_id: &'a str,
        user: Uuid,
    ) -> StoreFuture<'a, (TokenStatus, Option<User>)> {
        Box::pin(async move { Ok((self.status(token_id, user).await?, None)) })
    }
}

/// The id a token is revoked under: the hex SHA-256 of the whole token, so the deny-list holds
/// nothing that could be replayed.
pub fn token_id(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Revocations in memory, for tests and single-process apps.
#[derive(Default)]
pub struct MemoryRevocations {
    inner: Mutex<Revoked>,
}

#[derive(Default)]
struct Revoked {
    tokens: HashMap<String, u64>,
    not_before: HashMap<Uuid, u64>,
}

impl fmt::Debug for MemoryRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRevocations").finish_non_exhaustive()
    }
}

impl RevocationStore for MemoryRevocations {
    fn revoke<'a>(&'a self, token_id: &'a str, until: u64) -> StoreFuture<'a, ()> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = now();
        inner.tokens.retain(|_, until| *until >= now);
        inner.tokens.insert(token_id.to_owned(), until);
        Box::pin(async { Ok(()) })
    }

    fn revoke_before(&self, user: Uuid, at: u64) -> StoreFuture<'_, ()> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.not_before.insert(user, at);
        Box::pin(async { Ok(()) })
    }

    fn status<'a>(&'a self, token_id: &'a str, user: Uuid) -> StoreFuture<'a, TokenStatus> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let status = TokenStatus {
            revoked: inner.tokens.get(token_id).is_some_and(|until| *until >= now()),
            not_before: inner.not_before.get(&user).copied(),
        };
        Box::pin(async move { Ok(status) })
    }
}
