//! The extractors behind `#[protected]`: a required user, an optional user, scope checks.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::guard::{Admission, Guard, NoGuard};
use crate::loader::{BoxError, LoadUser};
use crate::manager::LoginManager;
use crate::reader::{TokenRead, Transport};
use crate::rejection::AuthRejection;
use crate::token::Claims;

/// An authenticated user of type `U` whose token satisfies the guard `G`.
///
/// `#[protected]` turns `async fn me(user: User)` into a handler taking `Authenticated<User, _>`;
/// without the macros, take it yourself. As a plain argument it refuses anonymous requests
/// (401, or the route's or manager's own response) and users the guard forbids (403); as
/// `Option<Authenticated<U>>` it yields `None` for them, but still answers 500 when the loader
/// fails.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use login_runtime::{Authenticated, LoginManager};
///
/// #[derive(Clone, serde::Serialize)]
/// struct User { email: String }
///
/// #[login_runtime::user_loader]
/// async fn load_user(email: &str) -> Option<User> {
///     (email == "johndoe@e.mail").then(|| User { email: email.to_owned() })
/// }
///
/// async fn me(Authenticated { user, .. }: Authenticated<User>) -> Json<User> {
///     Json(user)
/// }
///
/// let manager = LoginManager::builder().secret([7u8; 32]).build().unwrap();
/// let app: Router = Router::new().route("/me", get(me)).with_state(manager);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Authenticated<U, G = NoGuard> {
    /// The user the loader returned.
    pub user: U,
    /// The verified claims of the token.
    pub claims: Claims,
    guard: PhantomData<fn() -> G>,
}

pub(crate) enum Outcome<U> {
    User(U, Claims),
    Anonymous,
    Forbidden,
    /// Only a cookie, on a state-changing request from another site: refused (CSRF).
    CrossSite,
    LoaderFailed,
}

/// The claims of one candidate token: the manager's token reader's say, or its JWT check.
async fn read_token(
    manager: &LoginManager,
    token: &str,
    from: Transport,
) -> Result<Option<TokenRead>, BoxError> {
    match manager.reader() {
        Some(reader) => reader.read(manager, token, from).await,
        None => Ok(manager
            .decode(token)
            .inspect_err(|error| tracing::debug!(%error, "token refused"))
            .ok()
            .map(TokenRead::from)),
    }
}

/// Verifies the request's first good token, checks the guard's scopes, loads the user, and asks
/// the guard whether it is admitted.
pub(crate) async fn authenticate<S, U, G>(parts: &Parts, state: &S, manager: &LoginManager) -> Outcome<U>
where
    U: LoadUser<S>,
    G: Guard<U>,
{
    let mut verified = None;
    let mut cross_site = false;
    // The cookie is parsed only when the header gave no good token.
    for from in [Transport::Header, Transport::Cookie] {
        let Some(token) = manager.token_in(&parts.headers, from) else {
            continue;
        };
        if from == Transport::Cookie && !manager.csrf_allows(parts) {
            cross_site = true;
            continue;
        }
        match read_token(manager, token, from).await {
            Ok(Some(read)) => {
                verified = Some(read);
                break;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "token reader failed");
                return Outcome::LoaderFailed;
            }
        }
    }
    let Some(read) = verified else {
        return if cross_site {
            Outcome::CrossSite
        } else {
            Outcome::Anonymous
        };
    };
    if !read.claims().has_scopes(G::SCOPES) {
        return Outcome::Forbidden;
    }
    // The reader's user, when it loaded one of this type; else the loader's.
    let (claims, user) = read.into_parts::<U>();
    let loaded = match user {
        Some(user) => Ok(Some(user)),
        None => U::load(&claims.sub, state).await.map_err(Into::into),
    };
    match loaded {
        Ok(Some(user)) => match G::admit(&user) {
            Admission::Admit => Outcome::User(user, claims),
            Admission::Unauthenticated => Outcome::Anonymous,
            Admission::Forbidden => Outcome::Forbidden,
        },
        Ok(None) => Outcome::Anonymous,
        Err(error) => {
            let error: BoxError = error;
            tracing::error!(%error, user_type = std::any::type_name::<U>(), "user loader failed");
            Outcome::LoaderFailed
        }
    }
}

impl<S, U, G> FromRequestParts<S> for Authenticated<U, G>
where
    S: Send + Sync,
    U: LoadUser<S>,
    G: Guard<U>,
    LoginManager: FromRef<S>,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let manager = LoginManager::from_ref(state);
        match authenticate::<S, U, G>(parts, state, &manager).await {
            Outcome::User(user, claims) => Ok(Self {
                user,
                claims,
                guard: PhantomData,
            }),
            Outcome::Anonymous => {
                let mut response = G::unauthenticated().unwrap_or_else(|| manager.unauthenticated_response());
                // A tossed cookie beside the real one: neither was used; the browser drops both.
                manager.clear_repeated_cookie(parts, &mut response);
                Err(AuthRejection::Unauthenticated(response))
            }
            Outcome::Forbidden => Err(AuthRejection::Forbidden(manager.forbidden_response())),
            Outcome::CrossSite => Err(AuthRejection::Forbidden(crate::rejection::cross_site_refused())),
            Outcome::LoaderFailed => Err(AuthRejection::LoaderFailed),
        }
    }
}

/// `Option<Authenticated<U, G>>`: `None` for no token, a bad token, an unknown user, missing
/// scopes or a user the guard does not admit; a failing loader is still an error (500), unlike fastapi-login's `optional`.
impl<S, U, G> OptionalFromRequestParts<S> for Authenticated<U, G>
where
    S: Send + Sync,
    U: LoadUser<S>,
    G: Guard<U>,
    LoginManager: FromRef<S>,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let manager = LoginManager::from_ref(state);
        match authenticate::<S, U, G>(parts, state, &manager).await {
            Outcome::User(user, claims) => Ok(Some(Self {
                user,
                claims,
                guard: PhantomData,
            })),
            Outcome::Anonymous | Outcome::Forbidden | Outcome::CrossSite => Ok(None),
            Outcome::LoaderFailed => Err(AuthRejection::LoaderFailed),
        }
    }
}
