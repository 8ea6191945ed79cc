//! FastAPI Users' whole flow for axum, on `login-runtime`: register, login and logout on a bearer
//! and a cookie backend, profile, superuser administration, password reset and email
//! verification, with the same paths, bodies, status codes, error codes, tokens and table layout,
//! so an existing FastAPI Users client, database and token keep working.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Json, Router, routing::get};
//! use login_runtime::protected;
//! use login_users::{MemoryStore, User, UserRead, Users};
//!
//! // FastAPI Users' `current_user(active=True, verified=True)`
//! #[protected(active, verified)]
//! async fn dashboard(user: User) -> Json<UserRead> {
//!     Json(UserRead::from(&user))
//! }
//!
//! let users = Users::builder(Arc::new(MemoryStore::default()))
//!     .secret("a secret of at least thirty-two bytes!")
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/dashboard", get(dashboard))
//!     .with_state(users.clone())
//!     .merge(users.router());
//! # Ok::<(), login_runtime::ConfigError>(())
//! ```
//!
//! `User` has a `#[user_loader]` that reads it from the [`UserStore`] of any router state a
//! [`Users`] can be taken from (`FromRef`), and implements [`AccountStatus`](login_runtime::AccountStatus),
//! so `#[protected(active)]`, `#[protected(verified)]` and `#[protected(superuser)]` work on it:
//! an inactive user is answered 401, an unverified or non-superuser one 403.

// docs.rs (nightly, `--cfg docsrs`): badge each feature-gated item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, from the bottom: the wire formats (`claims`, `email`, `model`, `responses`), the
// building blocks (`password`, `hooks`, `throttle`), the stores (a trait per kind, a folder per
// backend holding all of that backend's impls), the token strategies, the operations (`service`,
// `refresh`) and the HTTP routes on top. A module imports only from the layers below its own.
mod claims;
mod email;
mod hooks;
mod http;
mod model;
pub mod password;
pub mod refresh;
mod responses;
mod service;
mod store;
mod strategy;
pub mod throttle;

pub use claims::{AUTH_AUDIENCE, RESET_AUDIENCE, VERIFY_AUDIENCE};
pub use email::{MAX_EMAIL_LEN, normalize_email};
pub use hooks::{
    DefaultHooks, InvalidPassword, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, UserHooks, default_password_policy,
};
pub use http::jwks::JWKS_MAX_AGE_SECS;
pub use model::{User, UserPatch, UserRead};
pub use refresh::{
    MAX_REFRESH_TOKEN_LIFETIME, REFRESH_COOKIE_NAME, REFRESH_COOKIE_PATH, REFRESH_TOKEN_LIFETIME,
    RefreshError, Refreshed,
};
pub use responses::{ApiError, FieldError, codes, forbidden, method_not_allowed, not_found, unauthorized};
pub use service::{COOKIE_NAME, CreateUser, TOKEN_LIFETIME, UpdateUser, UserError, Users, UsersBuilder};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use store::access_tokens::{AccessTokenRecord, AccessTokenStore};
#[cfg(feature = "postgres")]
pub use store::postgres::{PostgresRefreshStore, PostgresStore};
#[cfg(feature = "redis")]
pub use store::redis::{RedisRefreshStore, RedisStore};
pub use store::refresh::{MemoryRefreshStore, RefreshStore};
pub use store::revocation::{MemoryRevocations, RevocationStore, TokenStatus, token_id};
#[cfg(feature = "sqlite")]
pub use store::sqlite::{SqliteRefreshStore, SqliteStore};
pub use store::{MemoryStore, StoreError, StoreFuture, UserStore, email_key};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use strategy::database::DatabaseStrategy;
#[cfg(feature = "redis")]
pub use strategy::redis::RedisStrategy;
pub use strategy::{JwtStrategy, OPAQUE_TOKEN_LEN, TokenStrategy};
pub use throttle::{Clock, SystemClock, Throttle};

/// Loads the user of an access token's subject (a UUID) from the store.
#[login_runtime::user_loader]
async fn load_user(id: uuid::Uuid, users: &Users) -> Result<Option<User>, StoreError> {
    users.get(id).await
}

#[cfg(test)]
mod tests;
