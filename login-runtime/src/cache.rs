//! Keeping tokens out of caches.

use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::response::{IntoResponse, Response};

/// `response` with `Cache-Control: no-store` and `Pragma: no-cache`, so that no browser, proxy or
/// CDN cache keeps it: for every response that carries a token (RFC 6749 §5.1 asks it of token
/// responses). [`LoginManager::set_cookie`](crate::LoginManager::set_cookie) adds it too.
///
/// ```
/// use axum::Json;
/// use login_runtime::no_store;
/// use serde_json::json;
///
/// let response = no_store(Json(json!({ "access_token": "eyJ…", "token_type": "bearer" })));
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// assert_eq!(response.headers()["pragma"], "no-cache");
/// ```
pub fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    mark_no_store(&mut response);
    response
}

/// Sets `Cache-Control: no-store` and `Pragma: no-cache` on `response`.
pub(crate) fn mark_no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}
