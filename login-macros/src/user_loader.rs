//! `#[user_loader]`: implements `UserLoader` for the type the function returns, naming the function
//! as a type whose `LoaderFn` impl calls it; the runtime derives `LoadUser<S>` from the two.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Type};

use crate::attr::{CRATE, Errors, parse_args};
use crate::paths::Paths;
use crate::placement;

const SHAPE: &str = "async fn load_user(id: &str /*, extra: &State */) -> Option<User>";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    // The user type is the one the function returns: `crate = path` is the only argument.
    let krate = errors.push_result(parse_args(args, "user_loader", &[CRATE], |_, meta| {
        Err(meta.error(
            "`#[user_loader]` takes only `crate = path`: the user type is the one the function returns",
        ))
    }));
    let func = placement::function(item, "user_loader", &format!("a free `{SHAPE}`"))?;
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            format!("a `#[user_loader]` must be an `async fn`: write `{SHAPE}`"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a `#[user_loader]` cannot be generic",
        ));
    }
    let user = errors.push_result(user_type(&sig.output, sig.ident.span()));
    let mut inputs = sig.inputs.iter();
    let id = match inputs.next() {
        Some(FnArg::Typed(id)) => Some(id),
        Some(FnArg::Receiver(r)) => {
            errors.push(syn::Error::new_spanned(
                r,
                "a `#[user_loader]` is a free function, not a method",
            ));
            None
        }
        None => {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                format!("a `#[user_loader]` takes the token's subject as its first argument: `{SHAPE}`"),
            ));
            None
        }
    };
    errors.finish()?;
    let (Some(krate), Some(user), Some(id)) = (krate, user, id) else {
        unreachable!("errors were reported above")
    };

    let paths = Paths::new(krate.as_ref());
    let rt = paths.private();
    let name = &sig.ident;
    let output = match &sig.output {
        ReturnType::Type(_, ty) => ty,
        ReturnType::Default => unreachable!("checked by user_type"),
    };
    let parse_id = match &*id.ty {
        Type::Reference(r) if is_str(&r.elem) => quote!(__sub),
        ty => {
            // `&T` borrows the parsed id, `T` takes it.
            let (inner, borrow) = match ty {
                Type::Reference(r) => (&*r.elem, quote!(&)),
                ty => (ty, quote!()),
            };
            let rt = paths.private_at(inner.span());
            quote_spanned! {inner.span()=> #borrow match #rt::parse_subject::<#inner>(__sub) {
                #rt::Option::Some(id) => id,
                #rt::Option::None => return #rt::Result::Ok(#rt::Option::None),
            }}
        }
    };
    let mut bounds = Vec::new();
    let mut lets = Vec::new();
    let mut call_args = Vec::new();
    for (i, arg) in inputs.enumerate() {
        let FnArg::Typed(arg) = arg else { continue };
        let var = format_ident!("__arg{}", i);
        let (ty, by_ref) = match &*arg.ty {
            Type::Reference(r) => (&*r.elem, true),
            ty => (ty, false),
        };
        // The whole bound at the argument's type, so "introduced here" points at it.
        let rt_at = paths.private_at(ty.span());
        bounds.push(quote_spanned! {ty.span()=> #ty: #rt_at::LoaderArgument<__S> });
        lets.push(quote! { let #var = <#ty as #rt::FromRef<__S>>::from_ref(__state); });
        call_args.push(if by_ref { quote!(&#var) } else { quote!(#var) });
    }

    // One `LoaderOutput` bound, at the return type: an error type that is no `std::error::Error`
    // is reported there, once. (`type Error = <Output as LoaderOutput>::Error` reported it again
    // for the impl, and once more for the conversion.)
    let rt_at = paths.private_at(output.span());
    let into_result = quote_spanned! {output.span()=> #rt_at::loader_result::<#user, _>(__output) };

    // The function as a type: `User`'s one `UserLoader` impl names it, and its `LoaderFn` impl
    // calls the function. `pub`, so a `pub` user type's impl does not leak a private type.
    let function = format_ident!("__login_loader_{}", name);
    Ok(quote! {
        #func

        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, unreachable_pub)]
        pub struct #function;

        impl #rt::UserLoader for #user {
            type Function = #function;
        }

        impl<__S> #rt::LoaderFn<__S, #user> for #function
        where
            __S: ::core::marker::Send + ::core::marker::Sync,
            #(#bounds,)*
        {
            fn call(
                __sub: &str,
                __state: &__S,
            ) -> impl #rt::Future<Output = #rt::Result<#rt::Option<#user>, #rt::BoxError>> + ::core::marker::Send {
                async move {
                    let __id = #parse_id;
                    #(#lets)*
                    let __output = #name(__id, #(#call_args),*).await;
                    #into_result
                }
            }
        }
    })
}

/// The loader as written, and the impls its expansion would give its user type when that type can
/// be read off the return type (`Option<User>`, `Result<User, E>`, `User`...), so `#[protected]`
/// handlers of that type add no "no `#[user_loader]`" error to the loader's one.
pub(crate) fn fallback(args: &TokenStream, item: TokenStream) -> TokenStream {
    let Ok(func) = syn::parse2::<ItemFn>(item.clone()) else {
        return item;
    };
    let rt = Paths::lenient(args).private();
    let user = match &func.sig.output {
        ReturnType::Type(_, ty) => {
            let ok = generic_of(ty, "Result").unwrap_or(ty);
            Some(generic_of(ok, "Option").unwrap_or(ok))
        }
        ReturnType::Default => None,
    };
    // Not for a user type that names the loader's own type parameters or `Self` (not in scope
    // where the impl goes).
    let generic = |user: &Type| {
        let text = user.to_token_stream().to_string();
        let words: Vec<&str> = text.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
        words.contains(&"Self")
            || func
                .sig
                .generics
                .type_params()
                .any(|p| words.contains(&p.ident.to_string().as_str()))
    };
    let impls = user.filter(|user| !generic(user)).map(|user| {
        quote! {
            impl #rt::UserLoader for #user {
                type Function = #rt::MacroFailedLoader;
            }
        }
    });
    // A method's impl goes in its body: an `impl` block cannot hold one beside it, and an impl
    // holds wherever it is written.
    let mut func = func;
    let method = matches!(func.sig.inputs.first(), Some(FnArg::Receiver(_)));
    let beside = match impls {
        Some(impls) if method => {
            let stmt = syn::parse_quote!({
                #[allow(non_local_definitions)]
                #impls
            });
            func.block.stmts.insert(0, stmt);
            None
        }
        impls => impls,
    };
    quote! {
        #[allow(dead_code)]
        #func
        #beside
    }
}

/// `Option<User>` or `Result<Option<User>, E>` (any `Result` alias) → `User`.
fn user_type(output: &ReturnType, name_span: Span) -> syn::Result<&Type> {
    let msg = "a `#[user_loader]` returns `Option<User>` or `Result<Option<User>, E>`, so that \
               `None` means \"no such user\"";
    let ty = match output {
        ReturnType::Type(_, ty) => &**ty,
        ReturnType::Default => return Err(syn::Error::new(name_span, format!("{msg}; write `{SHAPE}`"))),
    };
    if let Some(inner) = generic_of(ty, "Option") {
        return Ok(inner);
    }
    match generic_of(ty, "Result") {
        Some(ok) => match generic_of(ok, "Option") {
            Some(user) => Ok(user),
            None => Err(syn::Error::new_spanned(
                ok,
                "a fallible `#[user_loader]` returns `Result<Option<User>, E>`, so that `Ok(None)` \
                 means \"no such user\": wrap the user type in `Option`",
            )),
        },
        None => Err(syn::Error::new_spanned(
            ty,
            format!("{msg}: wrap the user type in `Option`"),
        )),
    }
}

/// The first type argument of `ty` when its last path segment is `name`.
fn generic_of<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn is_str(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("str"))
}
