//! FastAPI Users' error bodies: `{"detail": "CODE"}`, `{"detail": {"code", "reason"}}`, the plain
//! `Unauthorized`/`Forbidden`/`Not Found`, and FastAPI's 422 validation list.

use std::time::Duration;

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// The error codes of FastAPI Users' `ErrorCode`, as they appear in `detail`.
pub mod codes {
    /// Registration with an email in use.
    pub const REGISTER_USER_ALREADY_EXISTS: &str = "REGISTER_USER_ALREADY_EXISTS";
    /// Registration with a password the policy refuses.
    pub const REGISTER_INVALID_PASSWORD: &str = "REGISTER_INVALID_PASSWORD";
    /// Unknown email, wrong password or inactive user.
    pub const LOGIN_BAD_CREDENTIALS: &str = "LOGIN_BAD_CREDENTIALS";
    /// Update to an email in use.
    pub const UPDATE_USER_EMAIL_ALREADY_EXISTS: &str = "UPDATE_USER_EMAIL_ALREADY_EXISTS";
    /// Update with a password the policy refuses.
    pub const UPDATE_USER_INVALID_PASSWORD: &str = "UPDATE_USER_INVALID_PASSWORD";
    /// A reset token that does not work.
    pub const RESET_PASSWORD_BAD_TOKEN: &str = "RESET_PASSWORD_BAD_TOKEN";
    /// Reset with a password the policy refuses.
    pub const RESET_PASSWORD_INVALID_PASSWORD: &str = "RESET_PASSWORD_INVALID_PASSWORD";
    /// A verify token that does not work.
    pub const VERIFY_USER_BAD_TOKEN: &str = "VERIFY_USER_BAD_TOKEN";
    /// Verification of a verified user.
    pub const VERIFY_USER_ALREADY_VERIFIED: &str = "VERIFY_USER_ALREADY_VERIFIED";
    /// 429: a login throttled (backoff of the email from this address, or the account's ceiling).
    /// Not a FastAPI Users code: this crate's throttling.
    pub const LOGIN_TOO_MANY_ATTEMPTS: &str = "LOGIN_TOO_MANY_ATTEMPTS";
    /// 429: too many `forgot-password` or `request-verify-token` requests for one email. Not a
    /// FastAPI Users code: this crate's throttling.
    pub const TOO_MANY_REQUESTS: &str = "TOO_MANY_REQUESTS";
    /// 400: `PATCH /users/{id}` would demote or deactivate the last active superuser. Not a
    /// FastAPI Users code (it allows it, leaving nobody to administer the users).
    pub const UPDATE_USER_LAST_SUPERUSER: &str = "UPDATE_USER_LAST_SUPERUSER";
    /// 400: `DELETE /users/{id}` of the last active superuser. Not a FastAPI Users code.
    pub const DELETE_USER_LAST_SUPERUSER: &str = "DELETE_USER_LAST_SUPERUSER";
}

/// An error answer of the users routes.
#[derive(Debug)]
pub enum ApiError {
    /// 400 `{"detail": "CODE"}`.
    Code(&'static str),
    /// 400 `{"detail": {"code": "CODE", "reason": "…"}}`.
    Reason(&'static str, String),
    /// 401 `{"detail": "Unauthorized"}`.
    Unauthorized,
    /// 404 `{"detail": "Not Found"}`.
    NotFound,
    /// 413 `{"detail": "Payload Too Large"}`: a body over axum's limit (2 MB by default).
    TooLarge,
    /// 422 with FastAPI's list of field errors.
    Invalid(Vec<FieldError>),
    /// 429 `{"detail": "CODE"}` with `Retry-After: <seconds>` (the wait, rounded up, at least 1).
    TooManyRequests(&'static str, Duration),
    /// 500, logged by whoever made it.
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Code(code) => (StatusCode::BAD_REQUEST, Json(json!({ "detail": code }))).into_response(),
            Self::Reason(code, reason) => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "detail": { "code": code, "reason": reason } })),
            )
                .into_response(),
            Self::Unauthorized => unauthorized(),
            Self::NotFound => not_found(),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(json!({ "detail": "Payload Too Large" })),
            )
                .into_response(),
            Self::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "detail": errors })),
            )
                .into_response(),
            Self::TooManyRequests(code, wait) => {
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(RETRY_AFTER, HeaderValue::from(seconds.max(1)))],
                    Json(json!({ "detail": code })),
                )
                    .into_response()
            }
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                [("content-type", "text/plain; charset=utf-8")],
                "Internal Server Error",
            )
                .into_response(),
        }
    }
}

/// One entry of FastAPI's 422 `detail` list (pydantic's error shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// pydantic's error type: `missing`, `string_type`, `value_error`, `json_invalid`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Where: `["body", "email"]`.
    pub loc: Vec<Value>,
    /// pydantic's message.
    pub msg: String,
    /// The offending input.
    pub input: Value,
    /// Extra context (the reason of a `value_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl FieldError {
    /// An error at `body.<field>` (or `body` for an empty field name).
    pub fn at(field: &str, kind: &'static str, msg: impl Into<String>, input: Value) -> Self {
        let mut loc = vec![Value::from("body")];
        if !field.is_empty() {
            loc.push(Value::from(field));
        }
        Self {
            kind,
            loc,
            msg: msg.into(),
            input,
            ctx: None,
        }
    }
}

/// 401 `{"detail":"Unauthorized"}`: FastAPI Users' answer to a missing or bad token.
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "detail": "Unauthorized" })),
    )
        .into_response()
}

/// 403 `{"detail":"Forbidden"}`.
pub fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, Json(json!({ "detail": "Forbidden" }))).into_response()
}

/// 404 `{"detail":"Not Found"}`, also FastAPI's answer to an unknown path.
pub fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "detail": "Not Found" }))).into_response()
}

/// 405 `{"detail":"Method Not Allowed"}`, FastAPI's answer to a known path with another method.
pub fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({ "detail": "Method Not Allowed" })),
    )
        .into_response()
}
