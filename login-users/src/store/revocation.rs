//! JWT revocation, which neither FastAPI Users nor fastapi-login has: a logout makes that token
//! invalid (a deny-list entry kept until the token's own `exp`), and a password change, a reset or
//! a deactivation ends every session of the user at once (a per-user *session generation*: every
//! token carries the generation it was issued under, and the change moves it on). Kept in a
//! [`RevocationStore`]: the same SQLite or PostgreSQL database as the users, Redis, or memory.
//!
//! A generation is exact where a "not before" time is not: no clock, no second boundary, no
//! lifetime is involved. A token issued one millisecond before the change carries the old
//! generation and is refused from the change's answer on; a token issued after it carries the new
//! one. FastAPI Users' tokens carry none and count as generation 0: they keep working until the
//! user's first change, whatever their lifetime.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::claims::now;
use crate::model::User;
use crate::store::StoreFuture;

/// What a [`RevocationStore`] knows of one token and its user, read in one lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenStatus {
    /// The token was logged out.
    pub revoked: bool,
    /// The user's session generation: a token issued under another one is refused (0 for a user
    /// whose sessions were never ended).
    pub generation: u64,
}

/// Storage of revoked tokens and per-user session generations. Every instance behind a load
/// balancer must share one (the database they share), so a revocation is seen by all of them at
/// once: each request reads it afresh, in one round trip.
pub trait RevocationStore: Send + Sync + 'static {
    /// Refuses the token with this id (see [`token_id`]) until `until`, its `exp`.
    fn revoke<'a>(&'a self, token_id: &'a str, until: u64) -> StoreFuture<'a, ()>;
    /// The user's session generation (0 until [`end_sessions`](Self::end_sessions) first runs).
    fn generation(&self, user: Uuid) -> StoreFuture<'_, u64>;
    /// Moves the user's session generation on, atomically (concurrent calls each count), so that
    /// every token issued before is refused. Kept as long as the user exists: it has no expiry.
    fn end_sessions(&self, user: Uuid) -> StoreFuture<'_, ()>;
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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut id = String::with_capacity(2 * digest.len());
    for byte in digest {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    id
}

/// Revocations in memory, for tests and single-process apps.
#[derive(Default)]
pub struct MemoryRevocations {
    inner: Mutex<Revoked>,
}

#[derive(Default)]
struct Revoked {
    tokens: HashMap<String, u64>,
    generations: HashMap<Uuid, u64>,
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

    fn generation(&self, user: Uuid) -> StoreFuture<'_, u64> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = inner.generations.get(&user).copied().unwrap_or(0);
        Box::pin(async move { Ok(generation) })
    }

    fn end_sessions(&self, user: Uuid) -> StoreFuture<'_, ()> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *inner.generations.entry(user).or_insert(0) += 1;
        Box::pin(async { Ok(()) })
    }

    fn status<'a>(&'a self, token_id: &'a str, user: Uuid) -> StoreFuture<'a, TokenStatus> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let status = TokenStatus {
            revoked: inner.tokens.get(token_id).is_some_and(|until| *until >= now()),
            generation: inner.generations.get(&user).copied().unwrap_or(0),
        };
        Box::pin(async move { Ok(status) })
    }
}

#[cfg(test)]
mod tests {
    use super::token_id;

    #[test]
    fn token_id_is_the_lowercase_hex_sha256_of_the_token() {
        // FIPS 180-2's example: SHA-256("abc").
        assert_eq!(
            token_id("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(token_id("").len(), 64);
    }
}
