//! [`TokenReader`]: an asynchronous say over which tokens are good, for revocation lists and for
//! opaque (database or Redis) tokens.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use crate::loader::BoxError;
use crate::manager::LoginManager;
use crate::token::Claims;

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `Authorization: Bearer …`.
    Header,
    /// The manager's cookie.
    Cookie,
}

/// A token a [`TokenReader`] accepted.
pub struct TokenRead {
    /// Its claims; `sub` goes to the user loader.
    pub claims: Claims,
    /// The user of `claims.sub`, when the reader loaded it in the same lookup (a revocation check
    /// joined with the user row): the extractor then skips the loader, saving a round trip. It is
    /// used only if it is the route's user type.
    pub user: Option<Box<dyn Any + Send>>,
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

/// What [`TokenReader::read`] returns.
pub type ReadFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<TokenRead>, BoxError>> + Send + 'a>>;

/// Reads a token instead of the manager's own JWT check, when set with
/// [`LoginManagerBuilder::token_reader`](crate::LoginManagerBuilder::token_reader): `Ok(None)`
/// refuses the token (the next candidate is tried, then 401); `Err` answers 500, like a failing
/// loader. A reader that accepts JWTs should start with [`LoginManager::decode`].
///
/// ```
/// use login_runtime::{LoginManager, ReadFuture, TokenReader, Transport};
///
/// /// Accepts JWTs from the header only.
/// struct HeaderOnly;
///
/// impl TokenReader for HeaderOnly {
///     fn read<'a>(&'a self, manager: &'a LoginManager, token: &'a str, from: Transport) -> ReadFuture<'a> {
///         let claims = (from == Transport::Header).then(|| manager.decode(token).ok()).flatten();
///         Box::pin(async move { Ok(claims.map(Into::into)) })
///     }
/// }
/// ```
pub trait TokenReader: Send + Sync + 'static {
    /// The claims of `token`, if it is good.
    fn read<'a>(&'a self, manager: &'a LoginManager, token: &'a str, from: Transport) -> ReadFuture<'a>;
}
