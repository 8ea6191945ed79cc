//! A middleware that puts `Option<User>` into every request (fastapi-login's `attach_middleware`).

use axum::extract::{FromRef, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::extract::{Outcome, authenticate};
use crate::guard::NoGuard;
use crate::loader::LoadUser;
use crate::manager::LoginManager;
use crate::rejection::AuthRejection;

/// Middleware that inserts the request's `Option<U>` into its extensions, for handlers and layers
/// that read it with `Extension<Option<U>>`. Anonymous requests pass with `None`; a failing loader
/// answers 500.
///
/// ```
/// use axum::{Extension, Router, middleware, routing::get};
/// use login_runtime::{LoginManager, attach_user};
///
/// #[derive(Clone)]
/// struct User { email: String }
///
/// #[login_runtime::user_loader]
/// async fn load_user(email: &str) -> Option<User> { None }
///
/// async fn home(Extension(user): Extension<Option<User>>) -> String {
///     user.map_or("anonymous".into(), |u| u.email)
/// }
///
/// let manager = LoginManager::builder().secret([7u8; 32]).build().unwrap();
/// let app: Router = Router::new()
///     .route("/", get(home))
///     .layer(middleware::from_fn_with_state(manager.clone(), attach_user::<User, LoginManager>))
///     .with_state(manager);
/// ```
pub async fn attach_user<U, S>(State(state): State<S>, request: Request, next: Next) -> Response
where
    U: LoadUser<S> + Clone + Sync,
    S: Send + Sync,
    LoginManager: FromRef<S>,
{
    let manager = LoginManager::from_ref(&state);
    let (mut parts, body) = request.into_parts();
    let user = match authenticate::<S, U, NoGuard>(&parts, &state, &manager).await {
        Outcome::User(user, _) => Some(user),
        Outcome::Anonymous | Outcome::Forbidden | Outcome::CrossSite => None,
        Outcome::LoaderFailed => return AuthRejection::LoaderFailed.into_response(),
    };
    parts.extensions.insert(user);
    next.run(Request::from_parts(parts, body)).await
}
