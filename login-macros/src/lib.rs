//! The attribute macros of `login-runtime`. They only parse, validate and expand: every behaviour
//! lives in the runtime, reached through `::login_runtime::__private`. Depend on `login-runtime`,
//! which re-exports them, rather than on this crate.

use proc_macro::TokenStream;

mod attr;
mod login_config;
mod paths;
mod placement;
mod protected;
mod user_loader;

/// `#[user_loader]` as `login-macros` expands it; depend on `login-runtime`, which re-exports it with
/// its documentation and examples (`login_runtime::user_loader`).
#[proc_macro_attribute]
pub fn user_loader(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(
        "user_loader",
        args,
        item,
        user_loader::expand,
        user_loader::fallback,
    )
}

/// `#[protected]` as `login-macros` expands it; depend on `login-runtime`, which re-exports it with
/// its documentation and examples (`login_runtime::protected`).
#[proc_macro_attribute]
pub fn protected(args: TokenStream, item: TokenStream) -> TokenStream {
    expand("protected", args, item, protected::expand, protected::fallback)
}

/// `#[login_config]` as `login-macros` expands it; depend on `login-runtime`, which re-exports it with
/// its documentation and examples (`login_runtime::login_config`).
#[proc_macro_attribute]
pub fn login_config(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(
        "login_config",
        args,
        item,
        login_config::expand,
        login_config::fallback,
    )
}

type Expander =
    fn(proc_macro2::TokenStream, proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream>;

/// What a macro emits beside its errors: the user's item, made to compile as the expansion would
/// (a handler that is still a handler, a loader's impls, a config's `builder()`), so the one
/// error is not followed by others about the item (thiserror's `fallback.rs`, tokio's entry).
type Fallback = fn(&proc_macro2::TokenStream, proc_macro2::TokenStream) -> proc_macro2::TokenStream;

/// Runs an expander; on error emits the fallback stand-in of the user's item and the spanned
/// errors, so the rest of the crate still sees the item. `LOGIN_MACROS_DEBUG=1` prints every
/// expansion.
fn expand(name: &str, args: TokenStream, item: TokenStream, f: Expander, fallback: Fallback) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let args = proc_macro2::TokenStream::from(args);
    let out = match f(args.clone(), item.clone()) {
        Ok(tokens) => tokens,
        Err(err) => {
            let item = fallback(&args, item);
            let err = err.into_compile_error();
            quote::quote! { #item #err }
        }
    };
    if std::env::var_os("LOGIN_MACROS_DEBUG").is_some_and(|v| v != "0") {
        eprintln!("#[{name}] expands to:\n{out}\n");
    }
    out.into()
}
