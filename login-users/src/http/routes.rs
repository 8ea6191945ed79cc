//! The HTTP routes of FastAPI Users, declared with this crate's own macros.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::http::cookie;
use crate::http::input::{Fields, JsonBody, LoginForm};
use crate::model::{User, UserRead};
use crate::responses::{ApiError, FieldError, codes};
use crate::service::{CreateUser, UpdateUser, UserError, Users};
use crate::store::StoreError;
use crate::throttle::{Client, MailRoute};
use login_runtime::{Transport, protected};

impl Users {
    /// Every route of FastAPI Users' flow, ready to merge into an app:
    ///
    /// | route | what |
    /// |---|---|
    /// | `POST /auth/register` | 201 UserRead |
    /// | `POST /auth/jwt/login`, `/auth/jwt/logout` | bearer backend |
    /// | `POST /auth/cookie/login`, `/auth/cookie/logout` | cookie backend (`fastapiusersauth`) |
    /// | `POST /auth/jwt/refresh` | with refresh tokens on: form `grant_type=refresh_token&refresh_token=…` (RFC 6749 §6), 200 new access and refresh token; 400 `{"error": "invalid_grant"}` |
    /// | `POST /auth/cookie/refresh` | with refresh tokens on: the `fastapiusersrefresh` cookie, 204 both cookies anew |
    /// | `GET`/`PATCH /users/me` | the current active user |
    /// | `GET`/`PATCH`/`DELETE /users/{id}` | superusers only |
    /// | `POST /auth/forgot-password`, `/auth/reset-password` | password reset |
    /// | `POST /auth/request-verify-token`, `/auth/verify` | email verification |
    /// | `GET /.well-known/jwks.json` | the key set's public keys (404 with an HMAC secret) |
    ///
    /// The logins, `forgot-password` and `request-verify-token` are throttled (429 with
    /// `Retry-After`) as [`throttle`](crate::throttle) describes; serve the app with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so that the login backoff is keyed
    /// on the client's address.
    ///
    /// With [refresh tokens](crate::refresh) on
    /// ([`UsersBuilder::refresh_tokens`](crate::UsersBuilder::refresh_tokens)), the bearer login
    /// also answers `refresh_token` and `expires_in`, the cookie login also sets the
    /// `fastapiusersrefresh` cookie (`Path=/auth/cookie/refresh`, `SameSite=strict`), a logout
    /// ends the family of its access token, and the cookie logout clears both cookies.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let routes = Router::new()
            .route("/auth/register", post(register))
            .route("/auth/jwt/login", post(jwt_login))
            .route("/auth/jwt/logout", post(jwt_logout))
            .route("/auth/cookie/login", post(cookie_login))
            .route("/auth/cookie/logout", post(cookie_logout))
            .route("/users/me", get(me).patch(update_me).delete(delete_me))
            .route(
                "/users/{id}",
                get(get_user).patch(update_user).delete(delete_user),
            )
            .route("/auth/forgot-password", post(forgot_password))
            .route("/auth/reset-password", post(reset_password))
            .route("/auth/request-verify-token", post(request_verify_token))
            .route("/auth/verify", post(verify))
            .route("/.well-known/jwks.json", get(crate::http::jwks::jwks));
        crate::http::refresh::add(routes, self).with_state(self.clone())
    }
}

fn internal(error: UserError) -> ApiError {
    if let Some(refused) = refused_input(&error) {
        return refused;
    }
    tracing::error!(%error, "users route failed");
    ApiError::Internal
}

/// A store's refusal of a value of the request ([`StoreError::Rejected`]): 422 in FastAPI's
/// shape, logged as a warning, not an error (bad input is no server fault).
fn refused_input(error: &UserError) -> Option<ApiError> {
    let UserError::Internal(source) = error else {
        return None;
    };
    let StoreError::Rejected(reason) = source.downcast_ref::<StoreError>()? else {
        return None;
    };
    tracing::warn!(%reason, "the user store refused a value of the request");
    Some(ApiError::Invalid(vec![FieldError::at(
        "",
        "value_error",
        "Value error, the request holds a value the database cannot store",
        Value::Null,
    )]))
}

async fn register(State(users): State<Users>, body: JsonBody) -> Result<Response, ApiError> {
    let body = body.object()?;
    let mut fields = Fields::model(&body);
    let email = fields.email("email", true);
    let password = fields.string("password", true);
    // Read for their type errors only: a new user is active, not superuser, not verified.
    for flag in ["is_active", "is_superuser", "is_verified"] {
        fields.boolean(flag);
    }
    fields.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Internal);
    };
    match users.create(CreateUser::new(email, password)).await {
        Ok(user) => Ok((StatusCode::CREATED, Json(UserRead::from(&user))).into_response()),
        Err(UserError::AlreadyExists) => Err(ApiError::Code(codes::REGISTER_USER_ALREADY_EXISTS)),
        Err(UserError::InvalidPassword(e)) => {
            Err(ApiError::Reason(codes::REGISTER_INVALID_PASSWORD, e.reason))
        }
        Err(e) => Err(internal(e)),
    }
}

/// The address the throttle counts a request's client under: axum's `ConnectInfo<SocketAddr>`
/// (or a trusted `X-Forwarded-For` entry), else one shared "unknown" address.
struct Peer(Client);

impl FromRequestParts<Users> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, users: &Users) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        Ok(Self(users.throttle().client(peer, &parts.headers)))
    }
}

/// A new token of the backend that reads `from` for the active user these credentials belong
/// to; one answer for every failure, unless the throttle refuses the attempt first (429, before
/// any hashing).
async fn log_in(
    users: &Users,
    client: Client,
    form: &LoginForm,
    from: Transport,
) -> Result<String, ApiError> {
    let attempt = users
        .throttle()
        .login(&form.username, client)
        .await
        .map_err(|wait| ApiError::TooManyRequests(codes::LOGIN_TOO_MANY_ATTEMPTS, wait))?;
    match users.log_in(from, &form.username, &form.password).await {
        Ok(Some((user, token))) => {
            attempt.succeeded();
            users.hooks().on_after_login(&user).await;
            Ok(token)
        }
        // Unknown email, wrong password, inactive user, a login that lost a race with a change
        // ending the user's sessions: the attempt stays counted as a failure.
        Ok(_) => Err(ApiError::Code(codes::LOGIN_BAD_CREDENTIALS)),
        // A value the store refused came from the request: a failure like any other (the
        // attempt stays counted), answered as one.
        Err(e) if refused_input(&e).is_some() => Err(ApiError::Code(codes::LOGIN_BAD_CREDENTIALS)),
        Err(e) => {
            attempt.cancel();
            Err(internal(e))
        }
    }
}

async fn jwt_login(
    State(users): State<Users>,
    Peer(client): Peer,
    form: LoginForm,
) -> Result<Response, ApiError> {
    let token = log_in(&users, client, &form, Transport::Header).await?;
    // A token in the body: no cache may keep it (RFC 6749 §5.1).
    Ok(login_runtime::no_store(Json(
        crate::http::refresh::login_body(&users, token).await?,
    )))
}

/// Logs out the tokens this request carries (header and cookie) that belong to `user`.
async fn log_out(users: &Users, user: &User, headers: &HeaderMap) -> Result<(), ApiError> {
    for from in [Transport::Header, Transport::Cookie] {
        if let Some(token) = users.manager().token_in(headers, from) {
            users.logout(from, token, user).await.map_err(internal)?;
            users.log_out_refresh(token, user).await.map_err(internal)?;
        }
    }
    Ok(())
}

#[protected(active)]
async fn jwt_logout(
    user: User,
    State(users): State<Users>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    log_out(&users, &user, &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn cookie_login(
    _: login_runtime::CsrfGuard,
    State(users): State<Users>,
    Peer(client): Peer,
    form: LoginForm,
) -> Result<Response, ApiError> {
    let token = log_in(&users, client, &form, Transport::Cookie).await?;
    let lifetime = users.manager().expiry().as_secs();
    let response = with_cookie(&cookie::auth_cookie(&users, &token, lifetime));
    Ok(login_runtime::no_store(
        crate::http::refresh::login_cookie(&users, &token, response).await,
    ))
}

#[protected(active)]
async fn cookie_logout(
    user: User,
    State(users): State<Users>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    log_out(&users, &user, &headers).await?;
    Ok(crate::http::refresh::logout_cookie(
        &users,
        with_cookie(&cookie::auth_cookie_cleared(&users)),
    ))
}

/// 204 with the auth `cookie` (set or cleared), written as Starlette writes it.
pub(super) fn with_cookie(cookie: &::cookie::Cookie<'_>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if cookie::append(&mut response, cookie) {
        response
    } else {
        ApiError::Internal.into_response()
    }
}

#[protected(active)]
async fn me(user: User) -> Json<UserRead> {
    Json(UserRead::from(&user))
}

/// FastAPI Users' `UserUpdate`: every field optional.
fn read_update(body: &Map<String, Value>) -> Result<UpdateUser, ApiError> {
    let mut fields = Fields::model(body);
    let update = UpdateUser {
        password: fields.string("password", false),
        email: fields.email("email", false),
        is_active: fields.boolean("is_active"),
        is_superuser: fields.boolean("is_superuser"),
        is_verified: fields.boolean("is_verified"),
    };
    fields.finish()?;
    Ok(update)
}

async fn apply_update(
    users: &Users,
    user: &User,
    body: JsonBody,
    safe: bool,
) -> Result<Json<UserRead>, ApiError> {
    let update = read_update(&body.object()?)?;
    match users.update(user, update, safe).await {
        Ok(user) => Ok(Json(UserRead::from(&user))),
        Err(UserError::AlreadyExists) => Err(ApiError::Code(codes::UPDATE_USER_EMAIL_ALREADY_EXISTS)),
        Err(UserError::LastSuperuser) => Err(ApiError::Code(codes::UPDATE_USER_LAST_SUPERUSER)),
        Err(UserError::InvalidPassword(e)) => {
            Err(ApiError::Reason(codes::UPDATE_USER_INVALID_PASSWORD, e.reason))
        }
        Err(e) => Err(internal(e)),
    }
}

#[protected(active)]
async fn update_me(
    user: User,
    State(users): State<Users>,
    body: JsonBody,
) -> Result<Json<UserRead>, ApiError> {
    apply_update(&users, &user, body, true).await
}

/// The user of a `/users/{id}` path: 404 for an id that is not a UUID or not a user.
async fn user_or_404(users: &Users, id: &str) -> Result<User, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
    match users.get(id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(ApiError::NotFound),
        Err(e) => Err(internal(e.into())),
    }
}

#[protected(active, superuser)]
async fn get_user(
    _admin: User,
    State(users): State<Users>,
    Path(id): Path<String>,
) -> Result<Json<UserRead>, ApiError> {
    Ok(Json(UserRead::from(&user_or_404(&users, &id).await?)))
}

#[protected(active, superuser)]
async fn update_user(
    _admin: User,
    State(users): State<Users>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<UserRead>, ApiError> {
    let user = user_or_404(&users, &id).await?;
    apply_update(&users, &user, body, false).await
}

#[protected(active, superuser)]
async fn delete_user(
    _admin: User,
    State(users): State<Users>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = user_or_404(&users, &id).await?;
    match users.delete(&user).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(UserError::LastSuperuser) => Err(ApiError::Code(codes::DELETE_USER_LAST_SUPERUSER)),
        Err(e) => Err(internal(e)),
    }
}

/// `DELETE /users/me` is FastAPI's `DELETE /users/{id}` with the id `me`: superusers only, and
/// then 404, since `me` is no UUID.
#[protected(active, superuser)]
async fn delete_me(_admin: User) -> ApiError {
    ApiError::NotFound
}

/// The `email` of a `{email}` body.
fn read_email(body: JsonBody) -> Result<String, ApiError> {
    let body = body.embedded();
    let mut fields = Fields::embedded(&body);
    let email = fields.email("email", true);
    fields.finish()?;
    email.ok_or(ApiError::Internal)
}

/// Counts a mail request for `email`: 429 past the throttle's per-email limit.
fn throttle_mail(users: &Users, route: MailRoute, email: &str) -> Result<(), ApiError> {
    users
        .throttle()
        .email_request(route, email)
        .map_err(|wait| ApiError::TooManyRequests(codes::TOO_MANY_REQUESTS, wait))
}

async fn forgot_password(State(users): State<Users>, body: JsonBody) -> Result<Response, ApiError> {
    let email = read_email(body)?;
    throttle_mail(&users, MailRoute::ForgotPassword, &email)?;
    users.forgot_password(&email).await.map_err(internal)?;
    Ok((StatusCode::ACCEPTED, Json(Value::Null)).into_response())
}

async fn reset_password(State(users): State<Users>, body: JsonBody) -> Result<Json<Value>, ApiError> {
    let body = body.embedded();
    let mut fields = Fields::embedded(&body);
    let token = fields.string("token", true);
    let password = fields.string("password", true);
    fields.finish()?;
    let (Some(token), Some(password)) = (token, password) else {
        return Err(ApiError::Internal);
    };
    match users.reset_password(&token, &password).await {
        Ok(_) => Ok(Json(Value::Null)),
        Err(UserError::BadToken) => Err(ApiError::Code(codes::RESET_PASSWORD_BAD_TOKEN)),
        Err(UserError::InvalidPassword(e)) => {
            Err(ApiError::Reason(codes::RESET_PASSWORD_INVALID_PASSWORD, e.reason))
        }
        Err(e) => Err(internal(e)),
    }
}

async fn request_verify_token(State(users): State<Users>, body: JsonBody) -> Result<Response, ApiError> {
    let email = read_email(body)?;
    throttle_mail(&users, MailRoute::RequestVerify, &email)?;
    users.request_verify(&email).await.map_err(internal)?;
    Ok((StatusCode::ACCEPTED, Json(Value::Null)).into_response())
}

async fn verify(State(users): State<Users>, body: JsonBody) -> Result<Json<UserRead>, ApiError> {
    let body = body.embedded();
    let mut fields = Fields::embedded(&body);
    let token = fields.string("token", true);
    fields.finish()?;
    let token = token.ok_or(ApiError::Internal)?;
    match users.verify(&token).await {
        Ok(user) => Ok(Json(UserRead::from(&user))),
        Err(UserError::BadToken) => Err(ApiError::Code(codes::VERIFY_USER_BAD_TOKEN)),
        Err(UserError::AlreadyVerified) => Err(ApiError::Code(codes::VERIFY_USER_ALREADY_VERIFIED)),
        Err(e) => Err(internal(e)),
    }
}

#[cfg(test)]
mod refused_input_tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::{StoreError, UserError, internal};

    #[test]
    fn a_store_refusal_of_input_is_422_and_a_backend_failure_500() {
        let refused = UserError::from(StoreError::Rejected("invalid byte sequence: 0x00".into()));
        assert_eq!(
            internal(refused).into_response().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let failed = UserError::from(StoreError::Backend("connection reset".into()));
        assert_eq!(
            internal(failed).into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
