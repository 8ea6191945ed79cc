//! Why a request was refused, and the response it gets.

use axum::Json;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The body of an unauthenticated answer, as in fastapi-login.
pub const INVALID_CREDENTIALS: &str = "Invalid credentials";

/// The body of the answer to a cookie-authenticated, state-changing request from another site.
pub const CROSS_SITE_REFUSED: &str = "Cross-site request refused";

/// The body of an insufficient-scope answer.
pub const INSUFFICIENT_SCOPE: &str = "Not enough permissions";

/// A request the auth extractors refused; turns into its response.
///
/// The response of [`Unauthenticated`](Self::Unauthenticated) is chosen before this value is made
/// (route override, then the manager's, then 401), so it travels inside.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No token, a token that does not verify, or no user for its subject.
    Unauthenticated(Response),
    /// A valid token without every scope the route asks for, or a user the route's guard forbids
    /// (not a superuser, not verified): the manager's forbidden response, by default
    /// [`insufficient_scope`]. Also a state-changing request from another site that only a
    /// cookie authenticates: [`cross_site_refused`].
    Forbidden(Response),
    /// The user loader failed (database down…): 500, logged, never swallowed into "anonymous".
    LoaderFailed,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthenticated(response) | Self::Forbidden(response) => response,
            Self::LoaderFailed => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "detail": "Internal Server Error" })),
            )
                .into_response(),
        }
    }
}

/// 401 `{"detail":"Invalid credentials"}` with `WWW-Authenticate: Bearer`.
pub fn invalid_credentials() -> Response {
    let mut res = (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "detail": INVALID_CREDENTIALS })),
    )
        .into_response();
    res.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}

/// 403 `{"detail":"Not enough permissions"}` with
/// `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750 §3.1).
pub fn insufficient_scope() -> Response {
    let mut res = (
        StatusCode::FORBIDDEN,
        Json(json!({ "detail": INSUFFICIENT_SCOPE })),
    )
        .into_response();
    res.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer error="insufficient_scope""#),
    );
    res
}

/// 403 `{"detail":"Cross-site request refused"}`: a state-changing request a browser sent from
/// another site, authenticated only by the cookie (see [`LoginManager::csrf_allows`]).
///
/// [`LoginManager::csrf_allows`]: crate::LoginManager::csrf_allows
pub fn cross_site_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({ "detail": CROSS_SITE_REFUSED })),
    )
        .into_response()
}

/// A response made on demand: a manager's own answer to unauthenticated or forbidden requests.
pub(crate) type ResponseFn = fn() -> Response;

/// The answers a manager gives refused requests: its own, when set, else the defaults above.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Responses {
    /// Instead of [`invalid_credentials`].
    pub(crate) unauthenticated: Option<ResponseFn>,
    /// Instead of [`insufficient_scope`].
    pub(crate) forbidden: Option<ResponseFn>,
}

impl Responses {
    /// The response for an unauthenticated request.
    pub(crate) fn unauthenticated(&self) -> Response {
        self.unauthenticated.map_or_else(invalid_credentials, |f| f())
    }

    /// The response for a forbidden request.
    pub(crate) fn forbidden(&self) -> Response {
        self.forbidden.map_or_else(insufficient_scope, |f| f())
    }
}
