//! `#[protected]`: rewrites the user argument of a handler into the runtime's `Authenticated`
//! extractor, moved first so authentication runs before the other extractors.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::parse::Parse;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, ItemFn, Lit, LitStr, PatType, Path, Type};

use crate::attr::{Errors, parse_args};
use login_checks::check_token_url;

const VALID: &[&str] = &[
    "optional",
    "active",
    "verified",
    "superuser",
    "scopes(\"..\", ..)",
    "redirect = \"/path\"",
    "reject = path::to::fn",
    "state = StateType",
];

#[derive(Default)]
struct Args {
    optional: bool,
    /// `active`, `verified`, `superuser`, as written (their spans carry the `AccountStatus` check).
    status: Vec<syn::Ident>,
    scopes: Vec<LitStr>,
    redirect: Option<LitStr>,
    reject: Option<Path>,
    state: Option<Type>,
}

fn parse(args: TokenStream) -> syn::Result<Args> {
    let mut out = Args::default();
    parse_args(args, "protected", VALID, |key, meta| {
        match key {
            "optional" => out.optional = true,
            "active" | "verified" | "superuser" => out.status.push(meta.path.require_ident()?.clone()),
            "scopes" => {
                if meta.input.peek(syn::Token![=]) {
                    return Err(meta.error("write scopes as a list: `scopes(\"admin\", \"items:write\")`"));
                }
                let content;
                syn::parenthesized!(content in meta.input);
                let list = content.parse_terminated(Expr::parse, syn::Token![,])?;
                if list.is_empty() {
                    return Err(meta.error(
                        "`scopes()` is empty: name at least one, as in `scopes(\"admin\")`, or drop it",
                    ));
                }
                for expr in list {
                    match expr {
                        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) if s.value().trim().is_empty() => {
                            return Err(syn::Error::new_spanned(s, "a scope cannot be empty or blank"));
                        }
                        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. })
                            if s.value().contains(char::is_whitespace) =>
                        {
                            let each: Vec<String> =
                                s.value().split_whitespace().map(|w| format!("{w:?}")).collect();
                            return Err(syn::Error::new_spanned(
                                &s,
                                format!(
                                    "a scope cannot contain white space (RFC 6749 §3.3); to require \
                                     several scopes, list each: `scopes({})`",
                                    each.join(", ")
                                ),
                            ));
                        }
                        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => out.scopes.push(s),
                        other => {
                            let text = other.to_token_stream().to_string();
                            return Err(syn::Error::new_spanned(
                                other,
                                format!("a scope is a string literal: write `\"{text}\"`"),
                            ));
                        }
                    }
                }
            }
            "redirect" => {
                let lit: LitStr = meta.value()?.parse()?;
                if let Err(problem) = check_token_url(&lit.value()) {
                    return Err(syn::Error::new_spanned(
                        lit,
                        format!("invalid `redirect`: {problem}; write, say, `redirect = \"/login\"`"),
                    ));
                }
                out.redirect = Some(lit);
            }
            "reject" => out.reject = Some(meta.value()?.parse()?),
            "state" => out.state = Some(meta.value()?.parse()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if let (Some(_), Some(reject)) = (&out.redirect, &out.reject) {
        return Err(syn::Error::new_spanned(
            reject,
            "give either `redirect` or `reject`, not both",
        ));
    }
    Ok(out)
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let args = errors.push_result(parse(args));
    let mut func: ItemFn = syn::parse2(item)?;
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            "a `#[protected]` handler must be an `async fn`, as axum handlers are: add `async`",
        ));
    }
    if let Some(FnArg::Receiver(r)) = sig.inputs.first() {
        errors.push(syn::Error::new_spanned(
            r,
            "a `#[protected]` handler is a free function, not a method",
        ));
    }
    let markers = func.sig.inputs.iter().filter_map(|arg| match arg {
        FnArg::Typed(arg) => arg.attrs.iter().find(|a| is_user_marker(a)),
        FnArg::Receiver(_) => None,
    });
    for extra in markers.skip(1) {
        errors.push(syn::Error::new_spanned(
            extra,
            "only one argument of a `#[protected]` handler is the user: drop this `#[user]`",
        ));
    }
    let user_index = user_arg_index(&func);
    if user_index.is_none() && sig.inputs.is_empty() {
        errors.push(syn::Error::new(
            sig.paren_token.span.join(),
            "a `#[protected]` handler takes the user as an argument: `async fn me(user: User)`",
        ));
    }
    errors.finish()?;
    let (Some(args), Some(index)) = (args, user_index) else {
        unreachable!("errors were reported above")
    };

    let mut inputs: Vec<FnArg> = func.sig.inputs.clone().into_iter().collect();
    let FnArg::Typed(mut user_arg) = inputs.remove(index) else {
        unreachable!("receivers are refused")
    };
    user_arg.attrs.retain(|a| !is_user_marker(a));
    let user_ty = user_type(&user_arg, args.optional)?;

    let rt = quote!(::login_runtime::__private);
    let vis = &func.vis;
    let needs_guard = !args.scopes.is_empty()
        || !args.status.is_empty()
        || args.redirect.is_some()
        || args.reject.is_some();
    let guard_ty = if needs_guard {
        let name = format_ident!("__login_guard_{}", func.sig.ident);
        quote!(#name)
    } else {
        quote!(#rt::NoGuard)
    };
    let guard_def = needs_guard.then(|| {
        let scopes = &args.scopes;
        let unauthenticated = match (&args.redirect, &args.reject) {
            (Some(to), _) => Some(quote! {
                fn unauthenticated() -> #rt::Option<#rt::Response> {
                    #rt::Option::Some(#rt::IntoResponse::into_response(#rt::Redirect::to(#to)))
                }
            }),
            (_, Some(f)) => Some(quote_spanned! {f.span()=>
                fn unauthenticated() -> #rt::Option<#rt::Response> {
                    #rt::Option::Some(#rt::reject_response(#f()))
                }
            }),
            _ => None,
        };
        let admit = args.status.first().map(|first| {
            let flag = |name: &str| args.status.iter().any(|s| s == name);
            let (active, verified, superuser) = (flag("active"), flag("verified"), flag("superuser"));
            let requirements = quote_spanned! {first.span()=>
                #rt::Requirements { active: #active, verified: #verified, superuser: #superuser }
                    .admit::<#user_ty>(user)
            };
            quote! {
                fn admit(user: &#user_ty) -> #rt::Admission {
                    #requirements
                }
            }
        });
        quote! {
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #vis struct #guard_ty;
            impl #rt::Guard<#user_ty> for #guard_ty {
                const SCOPES: &'static [&'static str] = &[#(#scopes),*];
                #unauthenticated
                #admit
            }
        }
    });

    let pat = &user_arg.pat;
    let auth_ty = quote!(#rt::Authenticated<#user_ty, #guard_ty>);
    let new_arg: FnArg = if args.optional {
        let stmt: syn::Stmt = syn::parse_quote! {
            let #pat = ::core::option::Option::map(__login_auth, |auth| auth.user);
        };
        func.block.stmts.insert(0, stmt);
        syn::parse_quote!(__login_auth: ::core::option::Option<#auth_ty>)
    } else {
        syn::parse_quote!(#rt::Authenticated { user: #pat, .. }: #auth_ty)
    };
    inputs.insert(0, new_arg);
    func.sig.inputs = inputs.into_iter().collect();

    // One loader check, at the user type: `LoadUser<S>` implies `UserLoader`, so checking both
    // would report a type without a loader twice.
    let checks = match &args.state {
        None => quote_spanned! {user_ty.span()=> #rt::assert_user_loader::<#user_ty>(); },
        Some(state) => quote_spanned! {state.span()=>
            #rt::assert_state_provides_manager::<#state>();
            #rt::assert_loader_for_state::<#user_ty, #state>();
        },
    };

    Ok(quote! {
        #guard_def
        #func
        const _: () = { #checks };
    })
}

fn is_user_marker(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("user")
}

/// The handler as written minus its `#[user]` markers, emitted beside the errors: left in, each
/// marker would add "cannot find attribute `user`".
pub(crate) fn fallback(item: TokenStream) -> TokenStream {
    let Ok(mut func) = syn::parse2::<ItemFn>(item.clone()) else {
        return item;
    };
    for arg in &mut func.sig.inputs {
        if let FnArg::Typed(arg) = arg {
            arg.attrs.retain(|a| !is_user_marker(a));
        }
    }
    func.into_token_stream()
}

/// The argument marked `#[user]`, else the first one.
fn user_arg_index(func: &ItemFn) -> Option<usize> {
    let marked = func.sig.inputs.iter().position(
        |arg| matches!(arg, FnArg::Typed(PatType { attrs, .. }) if attrs.iter().any(is_user_marker)),
    );
    marked.or_else(|| (!func.sig.inputs.is_empty()).then_some(0))
}

/// The user type: `User` for a required user, the `User` of `Option<User>` for an optional one.
fn user_type(arg: &PatType, optional: bool) -> syn::Result<Type> {
    let inner = option_inner(&arg.ty);
    match (optional, inner) {
        (true, Some(inner)) => Ok(inner.clone()),
        (false, None) => Ok((*arg.ty).clone()),
        (true, None) => Err(syn::Error::new_spanned(
            &arg.ty,
            "`#[protected(optional)]` hands the handler `None` for anonymous requests, so the user \
             argument must be an `Option`: write `Option<User>`",
        )),
        (false, Some(_)) => Err(syn::Error::new_spanned(
            &arg.ty,
            "this user argument is an `Option`, but `#[protected]` always requires a user: write \
             `#[protected(optional)]` to let anonymous requests in, or take the user type itself",
        )),
    }
}

fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}
