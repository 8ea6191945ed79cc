//! The traits a `#[user_loader]` implements for its user type.

use std::future::Future;

/// A boxed error from a user loader.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Marks a type that has a `#[user_loader]`, and names the loader. Written by the macro; there is
/// one per user type, so a second loader for the same type is one "conflicting implementations of
/// trait `UserLoader`" error: [`LoadUser`] follows from this impl, so it cannot conflict too.
#[diagnostic::on_unimplemented(
    message = "no `#[user_loader]` is registered for `{Self}`",
    label = "`{Self}` has no user loader",
    note = "annotate the function that loads a `{Self}` from a token's subject:\n  \
            #[login_runtime::user_loader]\n  \
            async fn load_user(id: &str /*, extra: &State */) -> Option<{Self}> {{ … }}",
    note = "`#[protected]` takes the first argument as the user; if the user is another one, mark \
            it: `#[user] user: User`"
)]
pub trait UserLoader: Sized + Send + 'static {
    /// The function `#[user_loader]` annotates, as the type the macro defines beside it; its
    /// `LoaderFn` impl loads users of this type.
    type Function;
}

/// Loads a user of this type from a token's subject, with the extras the loader takes from the
/// axum state `S`. Every [`UserLoader`] whose function can be called with the state `S` has it.
// rustc reports a type without a loader as the unmet `UserLoader` bound behind the blanket impl,
// and a loader argument the state lacks as the unmet `LoaderArgument<S>` bound of the function.
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

/// The function of a `#[user_loader]` for users of type `U`, as the type the macro defines beside it
/// (`UserLoader::Function`): it loads a user with the extras it takes from the router state `S`.
/// Written by the macro; not a public API.
pub trait LoaderFn<S, U> {
    /// Calls the function with `sub` and the state's extras.
    fn call(sub: &str, state: &S) -> impl Future<Output = Result<Option<U>, BoxError>> + Send;
}

// The one impl of `LoadUser`: a second `#[user_loader]` for a type then conflicts with the first
// only as a `UserLoader` impl, one error.
impl<S, U> LoadUser<S> for U
where
    U: UserLoader,
    U::Function: LoaderFn<S, U>,
{
    type Error = BoxError;

    fn load(sub: &str, state: &S) -> impl Future<Output = Result<Option<Self>, Self::Error>> + Send {
        <U::Function as LoaderFn<S, U>>::call(sub, state)
    }
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
