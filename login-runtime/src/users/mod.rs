//! FastAPI Users' whole flow for axum (feature `users`): register, login and logout on a bearer
//! and a cookie backend, profile, superuser administration, password reset and email
//! verification, with the same paths, bodies, status codes, error codes, tokens and table layout,
//! so an existing FastAPI Users client, database and token keep working.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Json, Router, routing::get};
//! use login_runtime::protected;
//! use login_runtime::users::{MemoryStore, User, UserRead, Users};
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
//! [`Users`] can be taken from (`FromRef`), and implements [`AccountStatus`](crate::AccountStatus),
//! so `#[protected(active)]`, `#[protected(verified)]` and `#[protected(superuser)]` work on it:
//! an inactive user is answered 401, an unverified or non-superuser one 403.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod access_tokens;
mod email;
mod hooks;
mod input;
mod jwks;
mod model;
pub mod password;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis_store;
pub mod refresh;
#[cfg(feature = "postgres")]
mod refresh_postgres;
#[cfg(feature = "redis")]
mod refresh_redis;
mod refresh_routes;
#[cfg(feature = "sqlite")]
mod refresh_sqlite;
mod responses;
mod revocation;
mod routes;
mod service;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod strategy;
pub mod throttle;
mod tokens;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use access_tokens::*;
pub use email::{MAX_EMAIL_LEN, normalize_email};
pub use hooks::{
    DefaultHooks, InvalidPassword, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, UserHooks, default_password_policy,
};
pub use jwks::JWKS_MAX_AGE_SECS;
pub use model::{User, UserPatch, UserRead};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis_store::*;
pub use refresh::{
    MAX_REFRESH_TOKEN_LIFETIME, MemoryRefreshStore, REFRESH_COOKIE_NAME, REFRESH_COOKIE_PATH,
    REFRESH_TOKEN_LIFETIME, RefreshError, RefreshStore, Refreshed,
};
#[cfg(feature = "postgres")]
pub use refresh_postgres::PostgresRefreshStore;
#[cfg(feature = "redis")]
pub use refresh_redis::RedisRefreshStore;
#[cfg(feature = "sqlite")]
pub use refresh_sqlite::SqliteRefreshStore;
pub use responses::{ApiError, FieldError, codes, forbidden, method_not_allowed, not_found, unauthorized};
pub use revocation::{MemoryRevocations, RevocationStore, TokenStatus, token_id};
pub use service::{COOKIE_NAME, CreateUser, TOKEN_LIFETIME, UpdateUser, UserError, Users, UsersBuilder};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use store::{MemoryStore, StoreError, StoreFuture, UserStore, email_key};
pub use strategy::{JwtStrategy, OPAQUE_TOKEN_LEN, TokenStrategy};
pub use throttle::{Clock, SystemClock, Throttle};
pub use tokens::{AUTH_AUDIENCE, RESET_AUDIENCE, VERIFY_AUDIENCE};

/// Loads the user of an access token's subject (a UUID) from the store.
#[crate::user_loader]
async fn load_user(id: uuid::Uuid, users: &Users) -> Result<Option<User>, StoreError> {
    users.get(id).await
}

#[cfg(test)]
mod tests;
