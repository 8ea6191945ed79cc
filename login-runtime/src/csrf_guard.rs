//! [`CsrfGuard`]: the CSRF rule of the cookie transport (see the `csrf` module) as an extractor,
//! for routes that are not authenticated.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::Response;

use crate::manager::LoginManager;
use crate::rejection::cross_site_refused;

/// An extractor that refuses (403, [`cross_site_refused`](crate::cross_site_refused)) a
/// state-changing request a browser sent from another site, by the rules of
/// [`LoginManager::csrf_allows`]. The auth extractors apply them to cookie-authenticated requests
/// already; put this on routes that set the cookie without being authenticated — a cookie login
/// form, against login CSRF (a forged form logging the victim into the attacker's account).
///
/// ```
/// use axum::{Router, routing::post};
/// use login_runtime::{CsrfGuard, LoginManager};
///
/// async fn cookie_login(_: CsrfGuard /* , Form(form): Form<…> */) -> &'static str {
///     "checked"
/// }
///
/// let manager = LoginManager::builder().secret([7u8; 32]).cookie("access-token").build().unwrap();
/// let app: Router = Router::new().route("/auth/cookie", post(cookie_login)).with_state(manager);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CsrfGuard;

impl<S> FromRequestParts<S> for CsrfGuard
where
    S: Send + Sync,
    LoginManager: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        if LoginManager::from_ref(state).csrf_allows(parts) {
            Ok(Self)
        } else {
            Err(cross_site_refused())
        }
    }
}
