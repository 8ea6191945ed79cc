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

/// What the request's tokens say, before any user is loaded.
enum Verified {
    Token(TokenRead),
    Anonymous,
    /// Only a cookie, on a state-changing request from another site.
    CrossSite,
    ReaderFailed,
}

/// The request's first good token: the header's, else the cookie's (which CSRF may refuse).
async fn verify(parts: &Parts, manager: &LoginManager) -> Verified {
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
            Ok(Some(read)) => return Verified::Token(read),
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "token reader failed");
                return Verified::ReaderFailed;
            }
        }
    }
    if cross_site {
        Verified::CrossSite
    } else {
        Verified::Anonymous
    }
}

/// Verifies the request's first good token, checks the guard's scopes, loads the user, and asks
/// the guard whether it is admitted.
pub(crate) async fn authenticate<S, U, G>(parts: &Parts, state: &S, manager: &LoginManager) -> Outcome<U>
where
    U: LoadUser<S>,
    G: Guard<U>,
{
    let read = match verify(parts, manager).await {
        Verified::Token(read) => read,
        Verified::Anonymous => return Outcome::Anonymous,
        Verified::CrossSite => return Outcome::CrossSite,
        Verified::ReaderFailed => return Outcome::LoaderFailed,
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

/// A request whose token is valid and grants the scopes of the guard `G`, for a route that needs no
/// user: `#[protected(scopes("admin"))] async fn purge()` takes it. No user is loaded, so a token
/// stays good for a deleted account until it expires (or the manager's token reader revokes it);
/// take the user as an argument to require that the account still exists.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Authorized<G = NoGuard> {
    /// The verified claims of the token.
    pub claims: Claims,
    guard: PhantomData<fn() -> G>,
}

impl<S, G> FromRequestParts<S> for Authorized<G>
where
    S: Send + Sync,
    G: Guard<()>,
    LoginManager: FromRef<S>,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let manager = LoginManager::from_ref(state);
        match verify(parts, &manager).await {
            Verified::Token(read) if read.claims().has_scopes(G::SCOPES) => Ok(Self {
                claims: read.into_claims(),
                guard: PhantomData,
            }),
            Verified::Token(_) => Err(AuthRejection::Forbidden(manager.forbidden_response())),
            Verified::Anonymous => {
                let mut response = G::unauthenticated().unwrap_or_else(|| manager.unauthenticated_response());
                manager.clear_repeated_cookie(parts, &mut response);
                Err(AuthRejection::Unauthenticated(response))
            }
            Verified::CrossSite => Err(AuthRejection::Forbidden(crate::rejection::cross_site_refused())),
            Verified::ReaderFailed => Err(AuthRejection::LoaderFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{Request, StatusCode, header};
    use axum::response::{IntoResponse, Redirect, Response};

    use super::*;
    use crate::AccessToken;

    struct Admin;
    impl Guard<()> for Admin {
        const SCOPES: &'static [&'static str] = &["admin"];
    }

    struct ToLogin;
    impl Guard<()> for ToLogin {
        fn unauthenticated() -> Option<Response> {
            Some(Redirect::to("/login").into_response())
        }
    }

    fn manager() -> LoginManager {
        LoginManager::builder().secret([7u8; 32]).build().unwrap()
    }

    fn parts(token: Option<&str>) -> Parts {
        let mut request = Request::builder().uri("/purge");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request.body(()).unwrap().into_parts().0
    }

    async fn status<G: Guard<()>>(manager: &LoginManager, token: Option<&str>) -> StatusCode {
        match Authorized::<G>::from_request_parts(&mut parts(token), manager).await {
            Ok(_) => StatusCode::OK,
            Err(rejection) => rejection.into_response().status(),
        }
    }

    #[tokio::test]
    async fn a_guard_only_route_checks_the_token_and_its_scopes() {
        let m = manager();
        let admin = m
            .create_access_token(AccessToken::new("ann").scopes(["admin"]))
            .unwrap();
        let plain = m.create_access_token("bob").unwrap();
        let (ok, forbidden) = (Some(admin.as_str()), Some(plain.as_str()));
        assert_eq!(status::<Admin>(&m, ok).await, StatusCode::OK);
        assert_eq!(status::<Admin>(&m, forbidden).await, StatusCode::FORBIDDEN);
        assert_eq!(status::<Admin>(&m, None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            status::<Admin>(&m, Some("not.a.token")).await,
            StatusCode::UNAUTHORIZED
        );
        // Another manager's token does not verify.
        let foreign = LoginManager::builder().secret([8u8; 32]).build().unwrap();
        let foreign = foreign
            .create_access_token(AccessToken::new("ann").scopes(["admin"]))
            .unwrap();
        assert_eq!(
            status::<Admin>(&m, Some(&foreign)).await,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn a_guard_only_route_answers_anonymous_requests_its_own_way() {
        let m = manager();
        assert_eq!(status::<ToLogin>(&m, None).await, StatusCode::SEE_OTHER);
        let token = m.create_access_token("ann").unwrap();
        let claims = Authorized::<ToLogin>::from_request_parts(&mut parts(Some(&token)), &m)
            .await
            .map(|auth| auth.claims.sub)
            .ok();
        assert_eq!(claims.as_deref(), Some("ann"));
    }
}
