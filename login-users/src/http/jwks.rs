//! `GET /.well-known/jwks.json`: the public keys of the access-token key set (RFC 7517), for
//! services that verify the tokens without any secret.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};

use crate::responses::not_found;
use crate::service::Users;

/// How long clients may cache the key set: 5 minutes. A new key is published this long before it
/// signs (README, "Rotating keys"), so every cache knows it by then.
pub const JWKS_MAX_AGE_SECS: u64 = 300;

/// 200 with the key set's public JWKs and `Cache-Control: public, max-age=300`; 404
/// `{"detail":"Not Found"}` when the manager signs with an HMAC secret (or one PEM key pair),
/// whose tokens carry no `kid`.
pub(super) async fn jwks(State(users): State<Users>) -> Response {
    let Some(jwks) = users.manager().jwks() else {
        return not_found();
    };
    let mut response = Json(jwks).into_response();
    let cache = format!("public, max-age={JWKS_MAX_AGE_SECS}");
    if let Ok(value) = HeaderValue::from_str(&cache) {
        response.headers_mut().insert(CACHE_CONTROL, value);
    }
    response
}
