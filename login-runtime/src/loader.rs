//! The traits a `#[user_loader]` implements for its user type.

use std::future::Future;

/// A boxed error from a user loader.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Marks a type that has a `#[user_loader]`. Written by the macro; there is one per user type, so a
/// second loader for the same type is a "conflicting implementations" error.
#[diagnostic::on_unimplemented(
    message = "no `#[user_loader]` is registered for `{Self}`",
    label = "`{Self}` has no user loader",
    note = "annotate the function that loads a `{Self}` from a token's subject:\n  \
            #[login_runtime::user_loader]\n  \
            async fn load_user(id: &str /*, extra: &State */) -> Option<{Self}> {{ … }}",
    note = "`#[protected]` takes the first argument as the user; if the user is another one, mark \
            it: `#[user] user: User`"
)]
pub trait UserLoader: Sized + Send + 'static {}

/// Loads a user of this type from a token's subject, with the extras the loader takes from the
/// axum state `S`. Written by `#[user_loader]`; implement it by hand only without the macros.
// This message shows only when the type has no `LoadUser` impl at all: rustc reports a loader
// argument the state lacks as the unmet `Arg: FromRef<S>` bound, never with this text.
#[diagnostic::on_unimplemented(
    message = "no `#[user_loader]` is registered for `{Self}`",
    label = "`{Self}` has no user loader (for the router state `{S}`)",
    note = "annotate the function that loads a `{Self}` from a token's subject:\n  \
            #[login_runtime::user_loader]\n  \
            async fn load_user(id: &str /*, extra: &State */) -> Option<{Self}> {{ … }}",
    note = "`#[protected]` takes the first argument as the user; if the user is another one, mark \
            it: `#[user] user: User`"
)]
pub trait LoadUser<S>: UserLoader {
    /// The loader's error; a failing loader answers 500 (and is logged), even for optional routes.
    type Error: Into<BoxError>;

    /// Finds the user whose id is `sub`; `Ok(None)` when there is none (answered 401).
    fn load(sub: &str, state: &S) -> impl Future<Output = Result<Option<Self>, Self::Error>> + Send;
}

/// What a loader may return: `Option<User>` or `Result<Option<User>, E>`.
#[diagnostic::on_unimplemented(
    message = "a `#[user_loader]` returns `Option<User>` or `Result<Option<User>, E>` with `E` an error \
               type, not `{Self}`",
    label = "not `Option<User>`, nor `Result<Option<User>, E>` with `E: std::error::Error + Send + Sync`",
    note = "a loader's error must convert into `Box<dyn std::error::Error + Send + Sync>`: implement \
            `std::error::Error` for it, or return `login_runtime::BoxError`"
)]
pub trait LoaderOutput {
    /// The user type.
    type User;
    /// The error type (`Infallible` for `Option`).
    type Error: Into<BoxError>;
    /// Normalises to a `Result`.
    fn into_result(self) -> Result<Option<Self::User>, Self::Error>;
}

impl<U> LoaderOutput for Option<U> {
    type User = U;
    type Error = std::convert::Infallible;
    fn into_result(self) -> Result<Option<U>, Self::Error> {
        Ok(self)
    }
}

// Reported as `LoaderOutput` with the message above, not as the `E: Into<BoxError>` behind it.
#[diagnostic::do_not_recommend]
impl<U, E: Into<BoxError>> LoaderOutput for Result<Option<U>, E> {
    type User = U;
    type Error = E;
    fn into_result(self) -> Result<Option<U>, E> {
        self
    }
}
