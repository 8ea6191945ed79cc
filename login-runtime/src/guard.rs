//! Per-route requirements: the scopes a token must grant and the response for anonymous requests.

use axum::response::Response;

/// What a route asks of a token beyond being valid. `#[protected(scopes(..), redirect = ..)]`
/// writes one hidden type per handler; without the macros implement it on a unit struct.
///
/// ```
/// use login_runtime::Guard;
///
/// struct AdminOnly;
/// impl Guard for AdminOnly {
///     const SCOPES: &'static [&'static str] = &["admin"];
/// }
/// // async fn admin(auth: login_runtime::Authenticated<User, AdminOnly>) { … }
/// ```
pub trait Guard: Send + Sync + 'static {
    /// Scopes the token must all grant; otherwise 403.
    const SCOPES: &'static [&'static str] = &[];

    /// This route's own answer to an unauthenticated request, instead of the manager's.
    fn unauthenticated() -> Option<Response> {
        None
    }
}

/// No requirement beyond a valid token and a known user.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGuard;

impl Guard for NoGuard {}
