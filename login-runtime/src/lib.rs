//! fastapi-login's three moves for axum, declared with attribute macros: annotate the function that
//! loads a user, annotate the routes that need one, and take the user as a plain handler argument.
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use login_runtime::{LoginManager, protected, user_loader};
//!
//! #[derive(Clone, serde::Serialize)]
//! struct User { email: String, scopes: Vec<String> }
//!
//! #[user_loader]
//! async fn load_user(email: &str) -> Option<User> {
//!     (email == "johndoe@e.mail").then(|| User { email: email.into(), scopes: vec![] })
//! }
//!
//! #[protected]
//! async fn me(user: User) -> Json<User> {
//!     Json(user)
//! }
//!
//! #[protected(optional)]
//! async fn home(user: Option<User>) -> String {
//!     user.map_or("hello, stranger".into(), |u| format!("hello, {}", u.email))
//! }
//!
//! #[protected(scopes("admin"))]
//! async fn admin(user: User) -> &'static str {
//!     "welcome, admin"
//! }
//!
//! let manager = LoginManager::builder().secret_from_env("SECRET").build();
//! # let manager = LoginManager::builder().secret([7u8; 32]).build();
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/", get(home))
//!     .route("/admin", get(admin))
//!     .with_state(manager.expect("a valid login configuration"));
//! ```
//!
//! * [`#[user_loader]`](user_loader) registers the loader of a user type; its arguments after the
//!   id come from the router state through `FromRef`.
//! * [`#[protected]`](protected) makes a handler require (or, with `optional`, accept) a user, with
//!   `scopes(..)`, a `redirect` for anonymous requests, and a `state` check.
//! * [`#[login_config]`](login_config) declares a manager's literal settings, checked at compile time.
//! * [`LoginManager`] does the token work: [`create_access_token`](LoginManager::create_access_token),
//!   strict [`decode`](LoginManager::decode), cookies.
//! * `#[protected(active | verified | superuser)]` checks the account flags of a user type that
//!   implements [`AccountStatus`].
//! * The `login-users` crate builds FastAPI Users' whole flow on this one — register,
//!   login/logout on a bearer and a cookie backend, profile, superuser routes, password reset,
//!   email verification — wire-compatible with FastAPI Users 15.
//!
//! Set `LOGIN_MACROS_DEBUG=1` while building to print what the macros expand to.

// docs.rs (nightly, `--cfg docsrs`): badge each feature-gated item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, from the bottom: what a request carries (`transport`, `reader`'s types), the
// token shapes (`token`), keys (`keys`, `hmac_verifier`), the manager's parts (`codec`, `cookie`, `csrf`,
// `rejection`, `cache`), the manager (`manager`), its builder (`config`), and the extractors on
// top (`extract`, `csrf_guard`, `attach`). A module imports only from the layers below its own.
mod attach;
mod cache;
mod codec;
mod config;
mod cookie;
mod csrf;
mod csrf_guard;
mod extract;
mod guard;
mod hmac_verifier;
mod keys;
mod loader;
mod manager;
mod reader;
mod rejection;
mod token;
mod transport;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use crate::cookie::DEFAULT_COOKIE_NAME;
pub use attach::attach_user;
pub use cache::no_store;
pub use config::{ConfigError, DEFAULT_EXPIRY, LoginManagerBuilder, MAX_LEEWAY};
pub use csrf_guard::CsrfGuard;
pub use extract::Authenticated;
pub use guard::{AccountStatus, Admission, Guard, NoGuard, Requirements};
pub use jsonwebtoken::Algorithm;
pub use jsonwebtoken::jwk::{Jwk, JwkSet};
pub use keys::{KeySet, KeySetError, MIN_RSA_BITS};
pub use loader::{BoxError, LoadUser, LoaderOutput, UserLoader};
pub use manager::{LoginManager, TokenReader};
pub use reader::{ReadFuture, TokenRead, Transport};
pub use rejection::{
    AuthRejection, CROSS_SITE_REFUSED, INSUFFICIENT_SCOPE, INVALID_CREDENTIALS, cross_site_refused,
    insufficient_scope, invalid_credentials,
};
pub use token::{
    AccessToken, AudienceClaim, Claims, MAX_EXP, MAX_TOKEN_LEN, StringClaim, TimedClaims, TokenError,
};
pub use transport::CookieLookup;

// The macros' documentation and doctests live here, on the re-exports users see: `login-macros`
// cannot dev-depend on this crate (a cycle `cargo package` refuses) to run them itself.
#[doc = include_str!("macro_docs/login_config.md")]
pub use login_macros::login_config;
#[doc = include_str!("macro_docs/protected.md")]
pub use login_macros::protected;
#[doc = include_str!("macro_docs/user_loader.md")]
pub use login_macros::user_loader;
