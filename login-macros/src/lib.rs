//! The attribute macros of `login-runtime`. They only parse, validate and expand: every behaviour
//! lives in the runtime, reached through `::login_runtime::__private`. Depend on `login-runtime`,
//! which re-exports them, rather than on this crate.

use std::convert::identity;

use proc_macro::TokenStream;

mod attr;
mod login_config;
mod protected;
mod user_loader;

/// Registers the function that loads a user from a token's subject (fastapi-login's
/// `@manager.user_loader()`).
///
/// The function must be `async`, take the subject first and return `Option<User>` or
/// `Result<Option<User>, E>` (`E: Into<BoxError>`); `User` is then what `#[protected]` handlers
/// receive. The id may be `&str`, `String` or any `FromStr` type (a subject that does not parse
/// loads nobody). Every further argument, `T` or `&T`, is taken from the router state through
/// `FromRef`, so a loader can reach its database:
///
/// ```
/// use axum::extract::FromRef;
/// use login_runtime::{LoginManager, user_loader};
///
/// #[derive(Clone)]
/// struct User { id: u64 }
///
/// #[derive(Clone)]
/// struct Db;
///
/// #[derive(Clone, FromRef)]
/// struct AppState { manager: LoginManager, db: Db }
///
/// #[user_loader]
/// async fn load_user(id: u64, db: &Db) -> Result<Option<User>, std::io::Error> {
///     Ok(Some(User { id }))
/// }
/// ```
///
/// There is one loader per user type: a second is a compile error, and so is a loader that is not
/// `async` or returns something else:
///
/// ```compile_fail
/// # struct User;
/// #[login_runtime::user_loader]
/// fn load_user(email: &str) -> Option<User> { None }
/// ```
#[proc_macro_attribute]
pub fn user_loader(args: TokenStream, item: TokenStream) -> TokenStream {
    expand("user_loader", args, item, user_loader::expand, identity)
}

/// Makes an axum handler require an authenticated user, or with `optional` accept one.
///
/// The handler keeps a plain signature: its first argument (or the one marked `#[user]`) is the
/// user, of a type that has a [`#[user_loader]`](macro@user_loader). The macro turns that argument
/// into the runtime's `Authenticated` extractor and moves it first, so authentication runs before
/// any body or path extractor: an anonymous request gets 401, never a 422 for its body.
///
/// | argument | effect |
/// |---|---|
/// | *(none)* | anonymous → 401 `{"detail":"Invalid credentials"}`, `WWW-Authenticate: Bearer` |
/// | `optional` | the user argument is `Option<User>`: `None` for no token, a bad token or an unknown user; a failing loader is still a 500 |
/// | `scopes("a", "b")` | the token must grant every scope, else 403 with `WWW-Authenticate: Bearer error="insufficient_scope"` |
/// | `redirect = "/login"` | anonymous → 303 to that path, instead of the 401 |
/// | `reject = path::to::fn` | anonymous → `fn()`'s response (any `IntoResponse`) |
/// | `state = AppState` | checks at the handler that `AppState` provides the `LoginManager` and the loader's arguments, instead of an error at `.route(..)` |
///
/// ```
/// use axum::{Json, Router, extract::Path, routing::get};
/// use login_runtime::{LoginManager, protected, user_loader};
///
/// #[derive(Clone, serde::Serialize)]
/// struct User { email: String }
///
/// #[user_loader]
/// async fn load_user(email: &str) -> Option<User> {
///     Some(User { email: email.into() })
/// }
///
/// #[protected]
/// async fn me(user: User) -> Json<User> { Json(user) }
///
/// #[protected(optional)]
/// async fn home(user: Option<User>) -> String { format!("{}", user.is_some()) }
///
/// #[protected(scopes("admin"), redirect = "/login", state = LoginManager)]
/// async fn admin(Path(id): Path<u32>, #[user] user: User) -> String { format!("{id} {}", user.email) }
///
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .route("/", get(home))
///     .route("/admin/{id}", get(admin))
///     .with_state(LoginManager::builder().secret([7u8; 32]).build().unwrap());
/// ```
///
/// Misuse is a compile error at the culprit, for instance an `Option` user without `optional`:
///
/// ```compile_fail
/// # #[derive(Clone)] struct User;
/// # #[login_runtime::user_loader] async fn load_user(id: &str) -> Option<User> { None }
/// #[login_runtime::protected]
/// async fn home(user: Option<User>) {}
/// ```
#[proc_macro_attribute]
pub fn protected(args: TokenStream, item: TokenStream) -> TokenStream {
    expand("protected", args, item, protected::expand, protected::fallback)
}

/// Declares a login manager's literal settings on a unit struct, checked while compiling, and gives
/// it `builder()` (a [`LoginManagerBuilder`] preloaded with them) and `manager()` (the built
/// manager, or an error naming the bad setting).
///
/// | key | meaning | default |
/// |---|---|---|
/// | `secret = "…"` / `secret = env("VAR")` | HMAC secret, at least 32 bytes; `env` is read when the manager is built | none: give one here or with `builder().secret(..)` |
/// | `algorithm = "HS256"` | one of HS256/384/512, RS/PS256/384/512, ES256/384, EdDSA (key pairs via `builder().pem_keys(..)`) | `"HS256"` |
/// | `token_url = "/auth/token"` | the login route | `"/auth/token"` |
/// | `header = bool` | read `Authorization: Bearer` | `true` |
/// | `cookie` / `cookie = "name"` | also read this cookie (bare: `access-token`); a `__Host-` name is recommended in production and needs `secure_cookies` on | no cookie |
/// | `expiry_secs = N` | token and cookie lifetime | 900 |
/// | `leeway_secs = N` | clock skew allowed | 0 |
/// | `issuer = "…"`, `audience = "…"` | written into tokens and required from them | none |
/// | `secure_cookies = bool` | `Secure` on the cookie | `true` |
///
/// ```
/// use login_runtime::login_config;
///
/// #[login_config(token_url = "/auth/token", cookie = "access-token", secret = env("SECRET"))]
/// struct Auth;
///
/// // SECRET unset here: the error names the setting and the variable.
/// # let _ = Auth::manager().map_err(|e| assert_eq!(e.setting(), "secret"));
/// let manager = Auth::builder().secret("a secret from elsewhere, 32 bytes+").build().unwrap();
/// assert_eq!(manager.cookie_name(), Some("access-token"));
/// ```
///
/// A literal that cannot work does not compile:
///
/// ```compile_fail
/// #[login_runtime::login_config(secret = "hunter2")] // under 32 bytes
/// struct Auth;
/// ```
///
/// [`LoginManagerBuilder`]: https://docs.rs/login-runtime/latest/login_runtime/struct.LoginManagerBuilder.html
#[proc_macro_attribute]
pub fn login_config(args: TokenStream, item: TokenStream) -> TokenStream {
    expand("login_config", args, item, login_config::expand, identity)
}

type Expander =
    fn(proc_macro2::TokenStream, proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream>;

/// Runs an expander; on error keeps the user's item (as `fallback` cleans it) and adds the spanned
/// errors, so the rest of the crate still sees the item. `LOGIN_MACROS_DEBUG=1` prints every
/// expansion.
fn expand(
    name: &str,
    args: TokenStream,
    item: TokenStream,
    f: Expander,
    fallback: fn(proc_macro2::TokenStream) -> proc_macro2::TokenStream,
) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let out = match f(args.into(), item.clone()) {
        Ok(tokens) => tokens,
        Err(err) => {
            let item = fallback(item);
            let err = err.into_compile_error();
            quote::quote! { #item #err }
        }
    };
    if std::env::var_os("LOGIN_MACROS_DEBUG").is_some_and(|v| v != "0") {
        eprintln!("#[{name}] expands to:\n{out}\n");
    }
    out.into()
}
