//! `#[protected]`: rewrites the user argument of a handler into the runtime's `Authenticated`
//! extractor, moved first so authentication runs before the other extractors. A handler without a
//! user argument is a guard-only route: the token is checked (and its scopes), no user is loaded.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::parse::Parse;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, Lit, LitStr, Pat, PatType, Path, Type};

use crate::attr::{CRATE, Errors, parse_args};
use crate::paths::Paths;
use crate::placement;
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
    CRATE,
];

const SHAPE: &str = "a free `async fn` handler, as in `async fn me(user: User)`";

/// The axum and runtime extractors a handler commonly takes beside the user. An unmarked user
/// argument after one of them is reported as such, not as a type without a loader.
const EXTRACTORS: &[&str] = &[
    "Path",
    "Query",
    "Json",
    "Form",
    "State",
    "Extension",
    "HeaderMap",
    "Method",
    "Uri",
    "OriginalUri",
    "ConnectInfo",
    "MatchedPath",
    "NestedPath",
    "RawQuery",
    "RawForm",
    "RawPathParams",
    "Multipart",
    "Request",
    "Bytes",
    "Body",
    "TypedHeader",
    "Host",
    "CookieJar",
    "SignedCookieJar",
    "PrivateCookieJar",
    "WebSocketUpgrade",
    "Authenticated",
    "CsrfGuard",
];

/// A required scope: a literal, checked here, or a constant, checked when it is evaluated.
enum Scope {
    Literal(LitStr),
    Const(Path),
}

impl ToTokens for Scope {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Self::Literal(lit) => lit.to_tokens(tokens),
            Self::Const(path) => path.to_tokens(tokens),
        }
    }
}

#[derive(Default)]
struct Args {
    optional: Option<Ident>,
    /// `active`, `verified`, `superuser`, as written (their spans carry the `AccountStatus` check).
    status: Vec<Ident>,
    scopes: Vec<Scope>,
    redirect: Option<LitStr>,
    reject: Option<Path>,
    state: Option<Type>,
    krate: Option<Path>,
}

fn parse(args: TokenStream) -> syn::Result<Args> {
    let mut out = Args::default();
    out.krate = parse_args(args, "protected", VALID, |key, meta| {
        match key {
            "optional" => out.optional = Some(meta.path.require_ident()?.clone()),
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
                    out.scopes.push(scope(expr)?);
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
    // An optional route lets anonymous requests in: its redirect or rejection could never happen.
    if let Some(optional) = &out.optional {
        let dead = out.redirect.as_ref().map(|r| ("redirect", r.span()));
        let dead = dead.or_else(|| out.reject.as_ref().map(|r| ("reject", r.span())));
        if let Some((name, span)) = dead {
            return Err(syn::Error::new(
                span,
                format!(
                    "`{name}` never happens on an `{optional}` route, which hands anonymous requests \
                     `None`: drop `{name}`, or drop `{optional}` to turn them away"
                ),
            ));
        }
    }
    Ok(out)
}

/// One entry of `scopes(..)`: a non-blank literal without white space, or a constant's path.
fn scope(expr: Expr) -> syn::Result<Scope> {
    match expr {
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) if s.value().trim().is_empty() => {
            Err(syn::Error::new_spanned(s, "a scope cannot be empty or blank"))
        }
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) if s.value().contains(char::is_whitespace) => {
            let each: Vec<String> = s.value().split_whitespace().map(|w| format!("{w:?}")).collect();
            Err(syn::Error::new_spanned(
                &s,
                format!(
                    "a scope cannot contain white space (RFC 6749 §3.3); to require several scopes, \
                     list each: `scopes({})`",
                    each.join(", ")
                ),
            ))
        }
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Ok(Scope::Literal(s)),
        // `ADMIN` or `scopes::ADMIN`: a constant, by Rust's naming convention.
        Expr::Path(p)
            if p.qself.is_none() && p.path.segments.last().is_some_and(|s| is_const_name(&s.ident)) =>
        {
            Ok(Scope::Const(p.path))
        }
        Expr::Path(p) if p.path.get_ident().is_some() => {
            let name = p.path.to_token_stream().to_string();
            Err(syn::Error::new_spanned(
                p,
                format!(
                    "a scope is a string literal or a `const`: write `\"{name}\"`, or name a constant \
                     such as `ADMIN` (`const ADMIN: &str = \"{name}\";`)"
                ),
            ))
        }
        other => Err(syn::Error::new_spanned(
            other,
            "a scope is a string literal, as in `scopes(\"admin\")`, or the path of a `const` \
             `&str`, as in `scopes(ADMIN)`",
        )),
    }
}

fn is_const_name(ident: &Ident) -> bool {
    let name = ident.to_string();
    name.chars().any(|c| c.is_ascii_uppercase()) && !name.chars().any(|c| c.is_ascii_lowercase())
}

/// Where the user is among the handler's arguments.
enum UserArg {
    At(usize),
    /// No argument is the user: a guard-only route.
    None,
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let args = errors.push_result(parse(args));
    let mut func = placement::function(item, "protected", SHAPE)?;
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
            "a `#[protected]` handler takes no `self`, as axum calls it without one: drop it, or \
             make the handler a free function",
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
    let user = errors.push_result(user_arg(&func));
    errors.finish()?;
    let (Some(args), Some(user)) = (args, user) else {
        unreachable!("errors were reported above")
    };
    let paths = Paths::new(args.krate.as_ref());
    let rt = paths.private();

    let index = match user {
        UserArg::At(index) => index,
        UserArg::None => return guard_only(&paths, &args, func),
    };
    let mut inputs: Vec<FnArg> = func.sig.inputs.clone().into_iter().collect();
    let FnArg::Typed(mut user_arg) = inputs.remove(index) else {
        unreachable!("receivers are refused")
    };
    user_arg.attrs.retain(|a| !is_user_marker(a));
    let user_ty = user_type(&user_arg, args.optional.is_some())?;

    let (guard_ty, guard_def) = guard(&paths, &args, &func, &user_ty);
    let pat = &user_arg.pat;
    let auth_ty = quote!(#rt::Authenticated<#user_ty, #guard_ty>);
    let new_arg: FnArg = if args.optional.is_some() {
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
    // would report a type without a loader twice. The checks are statements of the handler, so
    // they hold in an `impl` block too, where `const _` items are not allowed.
    let checks = match &args.state {
        None => {
            let rt = paths.private_at(user_ty.span());
            quote_spanned! {user_ty.span()=> #rt::assert_user_loader::<#user_ty>(); }
        }
        Some(state) => {
            let rt = paths.private_at(state.span());
            quote_spanned! {state.span()=>
                #rt::assert_state_provides_manager::<#state>();
                #rt::assert_loader_for_state::<#user_ty, #state>();
            }
        }
    };
    func.block.stmts.insert(0, syn::parse_quote!({ #checks }));
    Ok(quote! {
        #guard_def
        #func
    })
}

/// A handler without a user: `Authorized<G>` checks the token and the guard's scopes first.
fn guard_only(paths: &Paths, args: &Args, mut func: ItemFn) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    if let Some(optional) = &args.optional {
        errors.push(syn::Error::new_spanned(
            optional,
            "`optional` hands the handler an `Option<User>`, and this handler takes no user: take \
             `user: Option<User>`, or drop `optional`",
        ));
    }
    for flag in &args.status {
        errors.push(syn::Error::new_spanned(
            flag,
            format!("`{flag}` checks the loaded user, and this handler takes none: take the user, as in `async fn purge(user: User)`"),
        ));
    }
    errors.finish()?;
    let rt = paths.private();
    let (guard_ty, guard_def) = guard(paths, args, &func, &quote!(()));
    let arg: FnArg = syn::parse_quote!(_: #rt::Authorized<#guard_ty>);
    func.sig.inputs.insert(0, arg);
    if let Some(state) = &args.state {
        let rt = paths.private_at(state.span());
        let check = quote_spanned! {state.span()=> #rt::assert_state_provides_manager::<#state>(); };
        func.block.stmts.insert(0, syn::parse_quote!({ #check }));
    }
    Ok(quote! {
        #guard_def
        #func
    })
}

/// The guard type of the handler: `NoGuard`, a type of the runtime ([`type_guard`]), or a type
/// defined beside the handler, returned with its definition.
fn guard(paths: &Paths, args: &Args, func: &ItemFn, user_ty: &dyn ToTokens) -> (TokenStream, TokenStream) {
    let rt = paths.private();
    let needs_guard = !args.scopes.is_empty()
        || !args.status.is_empty()
        || args.redirect.is_some()
        || args.reject.is_some();
    if !needs_guard {
        return (quote!(#rt::NoGuard), TokenStream::new());
    }
    if let Some(ty) = type_guard(&rt, args) {
        return (ty, TokenStream::new());
    }
    let name = format_ident!("__login_guard_{}", func.sig.ident);
    let vis = &func.vis;
    let scopes = &args.scopes;
    // A constant scope is checked while compiling too, by a `const` that evaluates it.
    let const_checks = scopes.iter().filter_map(|s| match s {
        Scope::Const(path) => {
            let rt = paths.private_at(path.span());
            Some(quote_spanned! {path.span()=> const _: () = #rt::check_scope(#path); })
        }
        Scope::Literal(_) => None,
    });
    let unauthenticated = match (&args.redirect, &args.reject) {
        (Some(to), _) => Some(quote! {
            fn unauthenticated() -> #rt::Option<#rt::Response> {
                #rt::Option::Some(#rt::IntoResponse::into_response(#rt::Redirect::to(#to)))
            }
        }),
        (_, Some(f)) => {
            let rt = paths.private_at(f.span());
            Some(quote_spanned! {f.span()=>
                fn unauthenticated() -> #rt::Option<#rt::Response> {
                    #rt::Option::Some(#rt::reject_response(#f()))
                }
            })
        }
        _ => None,
    };
    let user_ty = user_ty.to_token_stream();
    let admit = args.status.first().map(|first| {
        let flag = |name: &str| args.status.iter().any(|s| s == name);
        let (active, verified, superuser) = (flag("active"), flag("verified"), flag("superuser"));
        let rt_at = paths.private_at(first.span());
        let requirements = quote_spanned! {first.span()=>
            #rt_at::Requirements { active: #active, verified: #verified, superuser: #superuser }
                .admit::<#user_ty>(user)
        };
        quote! {
            fn admit(user: &#user_ty) -> #rt::Admission {
                #requirements
            }
        }
    });
    let def = quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #name;
        impl #rt::Guard<#user_ty> for #name {
            const SCOPES: &'static [&'static str] = &[#(#scopes),*];
            #unauthenticated
            #admit
        }
        #(#const_checks)*
    };
    (quote!(#name), def)
}

/// Scopes in a guard written as types: as many as the runtime's `ScopeList` tuples hold.
const TYPE_GUARD_SCOPES: usize = 8;

/// The guard as a type of the runtime, `Require<(Text<..>, ..), Text<..>>`, when it asks only
/// literal scopes and a redirect, each of at most 64 bytes: it needs no item beside the handler,
/// so it works in an `impl` block too. Account flags, `reject` and constant scopes need the
/// handler's own guard type.
fn type_guard(rt: &TokenStream, args: &Args) -> Option<TokenStream> {
    if !args.status.is_empty() || args.reject.is_some() || args.scopes.len() > TYPE_GUARD_SCOPES {
        return None;
    }
    let scopes = args.scopes.iter().map(|scope| match scope {
        Scope::Literal(lit) => text_type(rt, &lit.value()),
        Scope::Const(_) => None,
    });
    let scopes = scopes.collect::<Option<Vec<_>>>()?;
    let redirect = match &args.redirect {
        Some(to) => text_type(rt, &to.value())?,
        None => quote!(()),
    };
    Some(quote!(#rt::Require<(#(#scopes,)*), #redirect>))
}

/// `text` as the runtime's `Text<LEN, W0, W1, W2, W3>`: its bytes in four big-endian words.
fn text_type(rt: &TokenStream, text: &str) -> Option<TokenStream> {
    let bytes = text.as_bytes();
    let mut padded = [0u8; 64];
    padded.get_mut(..bytes.len())?.copy_from_slice(bytes);
    let words = padded.chunks_exact(16).map(|chunk| {
        let word = u128::from_be_bytes(chunk.try_into().expect("16 bytes"));
        syn::LitInt::new(&format!("{word:#x}"), proc_macro2::Span::call_site())
    });
    let len = bytes.len();
    Some(quote!(#rt::Text<#len, #(#words),*>))
}

fn is_user_marker(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("user")
}

/// The argument marked `#[user]`; else the first one, unless it is an axum extractor: then an
/// unmarked later argument is the user, reported so; with only extractors, the route is
/// guard-only.
fn user_arg(func: &ItemFn) -> syn::Result<UserArg> {
    let typed = |arg: &FnArg| match arg {
        FnArg::Typed(arg) => Some(arg.clone()),
        FnArg::Receiver(_) => None,
    };
    let inputs: Vec<PatType> = func.sig.inputs.iter().filter_map(typed).collect();
    if let Some(marked) = inputs.iter().position(|a| a.attrs.iter().any(is_user_marker)) {
        return Ok(UserArg::At(marked));
    }
    match inputs.iter().position(|a| !is_extractor(a)) {
        None => Ok(UserArg::None),
        Some(0) => Ok(UserArg::At(0)),
        Some(later) => {
            let (first, user) = (&inputs[0], &inputs[later]);
            Err(syn::Error::new_spanned(
                user,
                format!(
                    "`#[protected]` takes the first argument as the user, and the first is the \
                     extractor `{}`: mark the user, `#[user] {}`, or move it first",
                    crate::attr::display(&first.ty),
                    crate::attr::display(user),
                ),
            ))
        }
    }
}

/// An argument that reads as an axum extractor: a known extractor type, or a destructuring
/// pattern (`Path(id)`, `State(db)`), which a user argument never is.
fn is_extractor(arg: &PatType) -> bool {
    if matches!(&*arg.pat, Pat::TupleStruct(_) | Pat::Struct(_)) {
        return true;
    }
    let ty = match &*arg.ty {
        Type::Reference(r) => &*r.elem,
        ty => ty,
    };
    let Type::Path(p) = ty else { return false };
    let last = p.path.segments.last().map(|s| s.ident.to_string());
    let last = last.as_deref().unwrap_or_default();
    if last == "Option" {
        // `Option<Query<T>>`: an extractor; `Option<User>`: the user.
        return option_inner(ty).is_some_and(is_extractor_type);
    }
    EXTRACTORS.contains(&last)
}

fn is_extractor_type(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    p.path
        .segments
        .last()
        .is_some_and(|s| EXTRACTORS.contains(&s.ident.to_string().as_str()))
}

/// The handler as written, made to stay an axum handler next to the errors: `async`, no
/// `#[user]` markers, and the user argument wrapped in `MacroFailed`, an extractor for any
/// state. Without it, every error would bring axum's "`Handler` is not satisfied" at the route.
/// On an `impl` block, each of its functions gets the same treatment.
pub(crate) fn fallback(args: &TokenStream, item: TokenStream) -> TokenStream {
    let rt = Paths::lenient(args).private();
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(mut func)) => {
            stand_in(&rt, &mut func.sig);
            func.into_token_stream()
        }
        Ok(syn::Item::Impl(mut block)) => {
            for item in &mut block.items {
                if let syn::ImplItem::Fn(func) = item {
                    stand_in(&rt, &mut func.sig);
                }
            }
            block.into_token_stream()
        }
        _ => item,
    }
}

fn stand_in(rt: &TokenStream, sig: &mut syn::Signature) {
    sig.asyncness.get_or_insert_with(Default::default);
    let marked = |arg: &FnArg| matches!(arg, FnArg::Typed(a) if a.attrs.iter().any(is_user_marker));
    // The marked arguments, else the first that is not an extractor.
    let users: Vec<usize> = if sig.inputs.iter().any(marked) {
        (0..sig.inputs.len())
            .filter(|&i| marked(&sig.inputs[i]))
            .collect()
    } else {
        let first = sig
            .inputs
            .iter()
            .position(|a| matches!(a, FnArg::Typed(a) if !is_extractor(a)));
        first.into_iter().collect()
    };
    for (i, arg) in sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(arg) = arg else { continue };
        arg.attrs.retain(|a| !is_user_marker(a));
        if users.contains(&i) {
            let (pat, ty) = (&arg.pat, &arg.ty);
            *arg = syn::parse_quote!(#rt::MacroFailed(#pat): #rt::MacroFailed<#ty>);
        }
    }
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
