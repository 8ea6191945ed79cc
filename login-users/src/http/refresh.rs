//! The refresh routes (RFC 6749 §6) and the refresh parts of the login and logout answers, when
//! refresh tokens are on: `POST /auth/jwt/refresh` (form, 200 with a new access and refresh token)
//! and `POST /auth/cookie/refresh` (CSRF-checked, 204 with both cookies anew). Errors are RFC 6749
//! §5.2 bodies, `{"error": "…"}` with status 400; every answer carrying a token, and every error,
//! has `Cache-Control: no-store`.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::http::cookie::{self, refresh_cookie, refresh_cookie_cleared};
use crate::refresh::{IssuedRefresh, REFRESH_COOKIE_NAME, RefreshError};
use crate::responses::ApiError;
use crate::service::{UserError, Users};
use login_runtime::{CookieLookup, Transport, no_store};

/// `routes` with the refresh routes when refresh tokens are on.
pub(crate) fn add(routes: Router<Users>, users: &Users) -> Router<Users> {
    if !users.refresh_enabled() {
        return routes;
    }
    routes
        .route("/auth/jwt/refresh", post(jwt_refresh))
        .route("/auth/cookie/refresh", post(cookie_refresh))
}

/// An RFC 6749 §5.2 error: 400 `{"error": code}`, not cached.
fn oauth_error(code: &'static str) -> Response {
    no_store((StatusCode::BAD_REQUEST, Json(json!({ "error": code }))))
}

fn refresh_failed(error: RefreshError) -> Response {
    match error {
        RefreshError::InvalidGrant => oauth_error("invalid_grant"),
        RefreshError::Internal(error) => internal(error),
    }
}

fn internal(error: UserError) -> Response {
    tracing::error!(%error, "refresh route failed");
    ApiError::Internal.into_response()
}

/// The `/auth/jwt/login` body: FastAPI Users' `{"access_token", "token_type"}`, and with refresh
/// tokens on a new family's `refresh_token` and the access token's `expires_in`.
pub(crate) async fn login_body(users: &Users, access_token: String) -> Result<Value, ApiError> {
    let refresh = users.start_refresh(&access_token).await.map_err(|error| {
        tracing::error!(%error, "starting a refresh family failed");
        ApiError::Internal
    })?;
    Ok(match refresh {
        None => json!({ "access_token": access_token, "token_type": "bearer" }),
        Some(refresh) => json!({
            "access_token": access_token,
            "token_type": "bearer",
            "refresh_token": refresh.token,
            "expires_in": users.manager().expiry().as_secs(),
        }),
    })
}

/// The cookie login's answer, with refresh tokens on: the refresh cookie of a new family beside
/// the auth cookie.
pub(crate) async fn login_cookie(users: &Users, access_token: &str, mut response: Response) -> Response {
    match users.start_refresh(access_token).await {
        Ok(Some(refresh)) => {
            if cookie::append(
                &mut response,
                &refresh_cookie(users, &refresh.token, refresh.lifetime_left),
            ) {
                no_store(response)
            } else {
                ApiError::Internal.into_response()
            }
        }
        Ok(None) => response,
        Err(error) => internal(error),
    }
}

/// The cookie logout's answer, with refresh tokens on: the refresh cookie cleared too.
pub(crate) fn logout_cookie(users: &Users, mut response: Response) -> Response {
    if users.refresh_enabled() && !cookie::append(&mut response, &refresh_cookie_cleared(users)) {
        return ApiError::Internal.into_response();
    }
    response
}

/// The parameters of an RFC 6749 §6 request: each at most once (§3.1), the body
/// `application/x-www-form-urlencoded`.
/// The refresh token, or the RFC 6749 error code of the request.
fn read_grant(headers: &HeaderMap, body: &[u8]) -> Result<String, &'static str> {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form {
        return Err("invalid_request");
    }
    let (mut grant_type, mut token) = (None, None);
    for (name, value) in form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "grant_type" => &mut grant_type,
            "refresh_token" => &mut token,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err("invalid_request");
        }
    }
    match grant_type.as_deref() {
        None => return Err("invalid_request"),
        Some("refresh_token") => {}
        Some(_) => return Err("unsupported_grant_type"),
    }
    token.filter(|t| !t.is_empty()).ok_or("invalid_request")
}

/// `POST /auth/jwt/refresh`: `grant_type=refresh_token&refresh_token=…` → 200
/// `{"access_token", "token_type": "bearer", "refresh_token", "expires_in"}`.
async fn jwt_refresh(State(users): State<Users>, headers: HeaderMap, body: Bytes) -> Response {
    let token = match read_grant(&headers, &body) {
        Ok(token) => token,
        Err(code) => return oauth_error(code),
    };
    match users.refresh(Transport::Header, &token).await {
        Ok(refreshed) => {
            let response = Json(json!({
                "access_token": refreshed.access_token,
                "token_type": "bearer",
                "refresh_token": refreshed.refresh.token,
                "expires_in": refreshed.expires_in,
            }))
            .into_response();
            no_store(response)
        }
        Err(error) => refresh_failed(error),
    }
}

/// `POST /auth/cookie/refresh` with the refresh cookie (CSRF-checked like every
/// cookie-authenticated change): 204 with the auth and refresh cookies anew. A refresh cookie
/// that appears twice (cookie tossing) is refused and cleared.
async fn cookie_refresh(
    _: login_runtime::CsrfGuard,
    State(users): State<Users>,
    headers: HeaderMap,
) -> Response {
    let token = match CookieLookup::find(&headers, REFRESH_COOKIE_NAME) {
        CookieLookup::One(token) if !token.is_empty() => token,
        CookieLookup::Repeated => return logout_cookie(&users, oauth_error("invalid_request")),
        _ => return oauth_error("invalid_request"),
    };
    match users.refresh(Transport::Cookie, token).await {
        Ok(refreshed) => {
            let lifetime = users.manager().expiry().as_secs();
            let mut response = crate::http::routes::with_cookie(&cookie::auth_cookie(
                &users,
                &refreshed.access_token,
                lifetime,
            ));
            let IssuedRefresh { token, lifetime_left } = &refreshed.refresh;
            if !cookie::append(&mut response, &refresh_cookie(&users, token, *lifetime_left)) {
                return ApiError::Internal.into_response();
            }
            no_store(response)
        }
        Err(error) => refresh_failed(error),
    }
}
