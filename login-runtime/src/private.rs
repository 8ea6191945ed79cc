//! The one path table of generated code: everything `login-macros` expands to is reached through
//! `::login_runtime::__private::…`, and only through here. Not a public API.

pub use crate::extract::{Authenticated, Authorized};
pub use crate::guard::{Admission, Guard, NoGuard, Require, Requirements, Text};
pub use crate::loader::{BoxError, LoadUser, LoaderFn, LoaderOutput, UserLoader};
pub use crate::manager::LoginManager;
pub use crate::{ConfigError, LoginManagerBuilder};
pub use axum::extract::FromRef;
pub use axum::response::{IntoResponse, Redirect, Response};
pub use core::future::Future;
pub use core::option::Option;
pub use core::result::Result;
pub use std::time::Duration;

/// A loader's id type: parsed from the token's subject with `FromStr`.
#[diagnostic::on_unimplemented(
    message = "the id type `{Self}` of a `#[user_loader]` cannot be parsed from a token's subject",
    label = "`{Self}` does not implement `FromStr`",
    note = "implement `std::str::FromStr` for `{Self}`, or take the subject as it is: `id: &str`"
)]
pub trait SubjectId: core::str::FromStr {}

// `do_not_recommend` (here and below): rustc then reports the unmet bound of the assert function
// with this trait's message, instead of the bound behind the blanket impl (`FromStr`, `FromRef`,
// `IntoResponse`) with its list of unrelated implementors.
#[diagnostic::do_not_recommend]
impl<T: core::str::FromStr> SubjectId for T {}

/// The subject as the loader's id type; a subject that does not parse loads no user.
pub fn parse_subject<T: SubjectId>(sub: &str) -> Option<T> {
    sub.parse().ok()
}

/// Emitted by `#[user_loader]`: the loader's output as `LoadUser::load` returns it. Its one bound,
/// at the loader's return type, is where a return type that is no loader output is reported.
/// The user type is a parameter, not `O::User`: an `O` that is no loader output is then reported
/// once, at this bound, not again where its `User` is used.
pub fn loader_result<U, O: LoaderOutput<User = U>>(output: O) -> Result<Option<U>, BoxError> {
    output.into_result().map_err(Into::into)
}

/// Emitted by `#[protected]` at the user type: fails with a clear message when it has no loader.
pub const fn assert_user_loader<U: UserLoader>() {}

/// A router state that holds a [`LoginManager`] (through `FromRef`).
#[diagnostic::on_unimplemented(
    message = "the router state `{Self}` provides no `LoginManager`",
    label = "`{Self}` has no `LoginManager`",
    note = "add a `LoginManager` field to `{Self}` and `#[derive(Clone, axum::extract::FromRef)]` on it, \
            or write `impl FromRef<{Self}> for LoginManager`"
)]
pub trait ProvidesLoginManager {}

#[diagnostic::do_not_recommend]
impl<S> ProvidesLoginManager for S where LoginManager: FromRef<S> {}

/// Emitted by `#[protected(state = S)]`.
pub const fn assert_state_provides_manager<S: ProvidesLoginManager>() {}

/// What the function of `#[protected(reject = f)]` returns: a response.
#[diagnostic::on_unimplemented(
    message = "the `reject` function of `#[protected]` returns `{Self}`, which is not a response",
    label = "returns `{Self}`, which does not implement `IntoResponse`",
    note = "return a response, as in `fn unauthorized() -> (StatusCode, &'static str)`, or implement \
            `axum::response::IntoResponse` for `{Self}`"
)]
pub trait RejectResponse: IntoResponse {}

#[diagnostic::do_not_recommend]
impl<R: IntoResponse> RejectResponse for R {}

/// Emitted by `#[protected(reject = f)]`: `f()` as the route's response to anonymous requests.
pub fn reject_response<R: RejectResponse>(response: R) -> Response {
    response.into_response()
}

/// An extra argument of a `#[user_loader]`, which the router state `S` gives through `FromRef`.
#[diagnostic::on_unimplemented(
    message = "the router state `{S}` does not give the `{Self}` that the `#[user_loader]` of this \
               user takes",
    label = "the user loader takes a `{Self}`, which `{S}` does not give",
    note = "add a `{Self}` field to `{S}` and `#[derive(Clone, axum::extract::FromRef)]` on it, or write \
            `impl FromRef<{S}> for {Self}`"
)]
pub trait LoaderArgument<S>: FromRef<S> {}

#[diagnostic::do_not_recommend]
impl<S, T: FromRef<S>> LoaderArgument<S> for T {}

/// Emitted by `#[protected(state = S)]`: the loader's extra arguments come from `S`.
pub const fn assert_loader_for_state<U: LoadUser<S>, S>() {}
pub use jsonwebtoken::Algorithm;

/// Emitted by `#[protected(scopes(CONST))]` in a `const`: a constant scope gets the literal's
/// checks while compiling (a failed check stops the build with this message).
pub const fn check_scope(scope: &str) {
    let bytes = scope.as_bytes();
    if bytes.is_empty() {
        panic!("a scope cannot be empty");
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() || bytes[i].is_ascii_control() {
            panic!("a scope cannot contain white space (RFC 6749 §3.3): list each scope in `scopes(..)`");
        }
        i += 1;
    }
}

/// Stands in for the user argument of a `#[protected]` handler whose attribute has an error, so
/// the handler stays an axum handler and the macro's `compile_error!` is the only error. That
/// error stops the build, so no request ever reaches this extractor; were it built, it would
/// refuse every request.
pub struct MacroFailed<T>(pub T);

impl<S: Send + Sync, T> axum::extract::FromRequestParts<S> for MacroFailed<T> {
    type Rejection = axum::http::StatusCode;

    async fn from_request_parts(_: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The loader function of the stand-in `UserLoader` impl a `#[user_loader]` with an error emits,
/// so `#[protected]` handlers of its user type add no error to the loader's one.
pub struct MacroFailedLoader;

impl<S, U> LoaderFn<S, U> for MacroFailedLoader {
    #[allow(clippy::manual_async_fn)]
    fn call(_: &str, _: &S) -> impl Future<Output = Result<Option<U>, BoxError>> + Send {
        async { macro_failed() }
    }
}

/// The body of the stand-ins a macro emits beside its `compile_error!` (a loader's `load`, a
/// config's `builder()`): that error stops the build, so this never runs.
pub fn macro_failed<T>() -> T {
    unreachable!("a login macro reported a compile error; this stand-in is never built")
}
