//! The one path table of generated code: everything `login-macros` expands to is reached through
//! `::login_runtime::__private::…`, and only through here. Not a public API.

pub use crate::extract::Authenticated;
pub use crate::guard::{Guard, NoGuard};
pub use crate::loader::{LoadUser, LoaderOutput, UserLoader};
pub use crate::manager::LoginManager;
pub use crate::{ConfigError, LoginManagerBuilder};
pub use axum::extract::FromRef;
pub use axum::response::{IntoResponse, Redirect, Response};
pub use core::future::Future;
pub use core::option::Option;
pub use core::result::Result;
pub use std::time::Duration;

/// The subject as the loader's id type: `FromStr`; a subject that does not parse loads no user.
pub fn parse_subject<T: core::str::FromStr>(sub: &str) -> Option<T> {
    sub.parse().ok()
}

/// Emitted by `#[protected]` at the user type: fails with a clear message when it has no loader.
pub const fn assert_user_loader<U: UserLoader>() {}

/// A router state that holds a [`LoginManager`] (through `FromRef`).
#[diagnostic::on_unimplemented(
    message = "the router state `{Self}` provides no `LoginManager`",
    label = "this state has no `LoginManager`",
    note = "add a `LoginManager` field to `{Self}` and `#[derive(Clone, axum::extract::FromRef)]` it, \
            or write `impl FromRef<{Self}> for LoginManager`"
)]
pub trait ProvidesLoginManager {}

impl<S> ProvidesLoginManager for S where LoginManager: FromRef<S> {}

/// Emitted by `#[protected(state = S)]`.
pub const fn assert_state_provides_manager<S: ProvidesLoginManager>() {}

/// Emitted by `#[protected(state = S)]`: the loader's extra arguments come from `S`.
pub const fn assert_loader_for_state<U: LoadUser<S>, S>() {}
pub use jsonwebtoken::Algorithm;
