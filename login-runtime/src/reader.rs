//! What a [`TokenReader`](crate::TokenReader) (an asynchronous say over which tokens are good, for
//! revocation lists and for opaque database or Redis tokens) is given and gives back: where the
//! token came from, and the token it accepted.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use crate::loader::BoxError;
use crate::token::Claims;

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `Authorization: Bearer …`.
    Header,
    /// The manager's cookie.
    Cookie,
}

/// A token a [`TokenReader`](crate::TokenReader) accepted: its claims and, optionally, the user of
/// its subject.
///
/// ```
/// use login_runtime::{Claims, TokenRead};
///
/// #[derive(Clone)]
/// struct User { id: u64 }
///
/// let read = TokenRead::from(Claims::new("7", 4_102_444_800)).with_user(User { id: 7 });
/// assert_eq!(read.claims().sub, "7");
/// ```
pub struct TokenRead {
    claims: Claims,
    /// The user of `claims.sub`, when the reader loaded it in the same lookup; taken by type.
    user: Option<Box<dyn Any + Send>>,
}

impl From<Claims> for TokenRead {
    fn from(claims: Claims) -> Self {
        Self { claims, user: None }
    }
}

impl std::fmt::Debug for TokenRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRead")
            .field("claims", &self.claims)
            .field("user", &self.user.as_ref().map(|_| "<loaded>"))
            .finish()
    }
}

impl TokenRead {
    /// Adds the user of the token's subject, when the reader loaded it in the same lookup (a
    /// revocation check joined with the user row): a route whose user type is `U` then takes it
    /// instead of calling the loader, saving a round trip. Other routes call their loader.
    pub fn with_user<U: Send + 'static>(mut self, user: U) -> Self {
        self.user = Some(Box::new(user));
        self
    }

    /// The token's claims; `sub` goes to the user loader.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The claims, without the user.
    pub(crate) fn into_claims(self) -> Claims {
        self.claims
    }

    /// The claims, and the user of type `U` if the reader added one.
    pub(crate) fn into_parts<U: 'static>(self) -> (Claims, Option<U>) {
        let user = self.user.and_then(|user| user.downcast::<U>().ok());
        (self.claims, user.map(|user| *user))
    }
}

/// What [`TokenReader::read`](crate::TokenReader::read) returns.
pub type ReadFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<TokenRead>, BoxError>> + Send + 'a>>;
