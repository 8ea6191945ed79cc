//! `#[login_config(..)]`: a manager's literal configuration on a unit struct, checked while
//! compiling, expanded into a `builder()` preloaded with it.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{BinOp, Expr, Ident, ItemStruct, Lit, LitBool, LitStr};

use crate::attr::{CRATE, parse_args};
use crate::paths::Paths;
use crate::placement;
use login_checks::{check_cookie_name, check_cookie_prefix, check_leeway, check_secret, check_token_url};

const VALID: &[&str] = &[
    "secret = \"..\" | env(\"VAR\")",
    "private_keys = [\"key.pem\", ..] | env(\"VAR\")",
    "algorithm = \"HS256\"",
    "token_url = \"/path\"",
    "header = bool",
    "cookie | cookie = \"name\"",
    "expiry_secs = N",
    "leeway_secs = N",
    "issuer = \"..\"",
    "audience = \"..\"",
    "secure_cookies = bool",
    CRATE,
];

const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
    "EdDSA",
];

enum Secret {
    Literal(LitStr),
    Env(LitStr),
}

/// A key set: PEM files named by literal paths (relative to the crate's `Cargo.toml`, compiled
/// in), or an environment variable listing them, read when the manager is built.
enum PrivateKeys {
    Files(Vec<LitStr>),
    Env(LitStr),
}

#[derive(Default)]
struct Config {
    secret: Option<Secret>,
    private_keys: Option<(PrivateKeys, Span)>,
    algorithm: Option<LitStr>,
    token_url: Option<LitStr>,
    header: Option<LitBool>,
    cookie: Option<(LitStr, Span)>,
    expiry_secs: Option<Seconds>,
    leeway_secs: Option<Seconds>,
    issuer: Option<LitStr>,
    audience: Option<LitStr>,
    secure_cookies: Option<LitBool>,
    krate: Option<syn::Path>,
}

/// A number of seconds written as a literal or arithmetic of literals (`60 * 60 * 24`), evaluated
/// here so that it is checked like a literal.
struct Seconds {
    value: u64,
    span: Span,
}

impl syn::parse::Parse for Seconds {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let expr: Expr = input.parse()?;
        Ok(Self {
            value: seconds(&expr)?,
            span: expr.span(),
        })
    }
}

/// Evaluates `+ - * /` over integer literals; anything else asks for a literal.
fn seconds(expr: &Expr) -> syn::Result<u64> {
    let overflow = || syn::Error::new_spanned(expr, "this number of seconds does not fit in a `u64`");
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse::<u64>(),
        Expr::Paren(inner) => seconds(&inner.expr),
        Expr::Group(inner) => seconds(&inner.expr),
        Expr::Binary(bin) => {
            let (l, r) = (seconds(&bin.left)?, seconds(&bin.right)?);
            match bin.op {
                BinOp::Add(_) => l.checked_add(r).ok_or_else(overflow),
                BinOp::Sub(_) => l
                    .checked_sub(r)
                    .ok_or_else(|| syn::Error::new_spanned(expr, "this number of seconds is below zero")),
                BinOp::Mul(_) => l.checked_mul(r).ok_or_else(overflow),
                BinOp::Div(_) if r == 0 => Err(syn::Error::new_spanned(&bin.right, "division by zero")),
                BinOp::Div(_) => Ok(l / r),
                _ => Err(not_seconds(expr)),
            }
        }
        _ => Err(not_seconds(expr)),
    }
}

fn not_seconds(expr: &Expr) -> syn::Error {
    syn::Error::new_spanned(
        expr,
        "write a number of seconds the macro can read: a literal, or arithmetic of literals such as \
         `60 * 60 * 24`; for a value known only at run time, call `.expiry(..)` or `.leeway(..)` on \
         `builder()`",
    )
}

fn parse(args: TokenStream) -> syn::Result<Config> {
    let mut c = Config::default();
    c.krate = parse_args(args, "login_config", VALID, |key, meta| {
        match key {
            "secret" => {
                let value = meta.value()?;
                if value.peek(LitStr) {
                    c.secret = Some(Secret::Literal(value.parse()?));
                } else {
                    let func: Ident = value.parse()?;
                    if func != "env" {
                        return Err(syn::Error::new_spanned(
                            &func,
                            format!(
                                "a `secret` is a string literal or `env(\"VAR\")` (read when the \
                                 manager is built), not `{func}`; for any other source, call \
                                 `.secret(..)` on `builder()`"
                            ),
                        ));
                    }
                    let content;
                    syn::parenthesized!(content in value);
                    c.secret = Some(Secret::Env(content.parse()?));
                }
            }
            "private_keys" => {
                let span = meta.path.get_ident().map_or_else(Span::call_site, Ident::span);
                let value = meta.value()?;
                let keys = if value.peek(syn::token::Bracket) {
                    let content;
                    syn::bracketed!(content in value);
                    let files =
                        content.parse_terminated(<LitStr as syn::parse::Parse>::parse, syn::Token![,])?;
                    PrivateKeys::Files(files.into_iter().collect())
                } else {
                    let func: Ident = value.parse()?;
                    if func != "env" {
                        return Err(syn::Error::new_spanned(
                            &func,
                            format!(
                                "`private_keys` is a list of PEM files, `[\"keys/new.pem\", \
                                 \"keys/old.pem\"]`, or `env(\"VAR\")` naming a variable that \
                                 lists them, not `{func}`"
                            ),
                        ));
                    }
                    let content;
                    syn::parenthesized!(content in value);
                    PrivateKeys::Env(content.parse()?)
                };
                c.private_keys = Some((keys, span));
            }
            "algorithm" => c.algorithm = Some(meta.value()?.parse()?),
            "token_url" => c.token_url = Some(meta.value()?.parse()?),
            "header" => c.header = Some(meta.value()?.parse()?),
            "cookie" => {
                let span = meta.path.get_ident().map_or_else(Span::call_site, Ident::span);
                let name = if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse()?
                } else {
                    LitStr::new("access-token", span)
                };
                c.cookie = Some((name, span));
            }
            "expiry_secs" => c.expiry_secs = Some(meta.value()?.parse()?),
            "leeway_secs" => c.leeway_secs = Some(meta.value()?.parse()?),
            "issuer" => c.issuer = Some(meta.value()?.parse()?),
            "audience" => c.audience = Some(meta.value()?.parse()?),
            "secure_cookies" => c.secure_cookies = Some(meta.value()?.parse()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(c)
}

fn check(c: &Config, item: &ItemStruct) -> syn::Result<()> {
    let mut errors = crate::attr::Errors::default();
    let mut fail = |span: Span, msg: String| errors.push(syn::Error::new(span, msg));
    // Keys, then transports, then durations: several errors read in about the order of `VALID`.
    if let Some(alg) = &c.algorithm
        && !ALGORITHMS.contains(&alg.value().as_str())
    {
        let value = alg.value();
        let hint = ALGORITHMS.iter().find(|a| a.eq_ignore_ascii_case(&value));
        let hint = hint.map(|a| format!("; did you mean `{a}`?")).unwrap_or_default();
        fail(
            alg.span(),
            format!(
                "unknown algorithm `{value}`{hint}\nexpected one of: {}",
                ALGORITHMS.join(", ")
            ),
        );
    }
    // HS256 by default; `None` for an unknown algorithm (reported above): no guess about the key.
    let algorithm = c
        .algorithm
        .as_ref()
        .map_or_else(|| "HS256".to_owned(), LitStr::value);
    let hmac = ALGORITHMS
        .contains(&algorithm.as_str())
        .then(|| algorithm.starts_with("HS"));
    if let Some((keys, span)) = &c.private_keys {
        check_private_keys(c, keys, *span, &mut fail);
        // The key set decides the algorithms; the secret checks below do not apply.
    } else {
        check_secret_for(c, &algorithm, hmac, &mut fail);
    }
    check_rest(c, item, errors)
}

/// With `private_keys`: no `secret`, no `algorithm`, files that exist and hold a private key.
fn check_private_keys(c: &Config, keys: &PrivateKeys, span: Span, fail: &mut impl FnMut(Span, String)) {
    match &c.secret {
        Some(Secret::Literal(lit) | Secret::Env(lit)) => fail(
            lit.span(),
            "`private_keys` signs with key pairs, not a secret: drop `secret` (or drop \
             `private_keys` to sign with HS256)"
                .to_owned(),
        ),
        None => {}
    }
    if let Some(alg) = &c.algorithm {
        fail(
            alg.span(),
            "with `private_keys`, each key's type sets its algorithm (Ed25519: EdDSA, P-256: \
             ES256, RSA: RS256): drop `algorithm`"
                .to_owned(),
        );
    }
    match keys {
        PrivateKeys::Env(var) if var.value().is_empty() => fail(
            var.span(),
            "`env(\"\")` names no variable: write the variable listing the key files, as in \
             `env(\"JWT_PRIVATE_KEYS\")`"
                .to_owned(),
        ),
        PrivateKeys::Env(_) => {}
        PrivateKeys::Files(files) if files.is_empty() => fail(
            span,
            "`private_keys = []` holds no key: list PEM files, the signing key first".to_owned(),
        ),
        PrivateKeys::Files(files) => {
            for file in files {
                if let Err(problem) = check_key_file(&file.value()) {
                    fail(file.span(), problem);
                }
            }
        }
    }
}

/// The file at `path` (relative to the crate's `Cargo.toml`) is a PEM private key.
fn check_key_file(path: &str) -> Result<(), String> {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let full = std::path::Path::new(&root).join(path);
    let text = std::fs::read_to_string(&full).map_err(|e| {
        format!(
            "cannot read the key file `{path}` ({e}); paths are relative to the crate's \
             Cargo.toml, `{root}`"
        )
    })?;
    if !text.contains("PRIVATE KEY-----") {
        return Err(format!(
            "`{path}` is not a PEM private key (`-----BEGIN PRIVATE KEY-----`): a key set holds \
             private keys (Ed25519, P-256, RSA of 2048 bits or more)"
        ));
    }
    Ok(())
}

fn check_secret_for(c: &Config, algorithm: &str, hmac: Option<bool>, fail: &mut impl FnMut(Span, String)) {
    match (&c.secret, hmac) {
        (Some(Secret::Literal(lit)), Some(true)) => {
            if let Err(problem) = check_secret(lit.value().as_bytes()) {
                fail(
                    lit.span(),
                    format!("{problem}; better, read it at run time: `secret = env(\"SECRET\")`"),
                );
            }
        }
        (Some(Secret::Literal(lit) | Secret::Env(lit)), Some(false)) => fail(
            lit.span(),
            format!(
                "`{algorithm}` signs with a key pair, not a secret: drop `secret` and call \
                 `.pem_keys(private, public)` on `builder()`"
            ),
        ),
        (Some(Secret::Env(var)), _) if var.value().is_empty() => fail(
            var.span(),
            "`env(\"\")` names no variable: write the variable holding the secret, as in \
             `env(\"SECRET\")`"
                .to_owned(),
        ),
        _ => {}
    }
}

fn check_rest(c: &Config, item: &ItemStruct, mut errors: crate::attr::Errors) -> syn::Result<()> {
    let mut fail = |span: Span, msg: String| errors.push(syn::Error::new(span, msg));
    if let Some(url) = &c.token_url
        && let Err(problem) = check_token_url(&url.value())
    {
        fail(url.span(), format!("invalid `token_url`: {problem}"));
    }
    if let Some((name, _)) = &c.cookie
        && let Err(problem) = check_cookie_name(&name.value())
    {
        fail(name.span(), format!("invalid `cookie`: {problem}"));
    }
    if let Some((name, _)) = &c.cookie
        && let Some(secure) = &c.secure_cookies
        && let Err(problem) = check_cookie_prefix(&name.value(), secure.value)
    {
        fail(secure.span(), format!("invalid `secure_cookies`: {problem}"));
    }
    if let Some(header) = &c.header
        && !header.value
        && c.cookie.is_none()
    {
        fail(
            header.span(),
            "with `header = false` and no `cookie`, no request could ever carry a token: \
             add `cookie` (or `cookie = \"name\"`), or drop `header = false`"
                .to_owned(),
        );
    }
    if let Some(expiry) = &c.expiry_secs
        && expiry.value == 0
    {
        fail(
            expiry.span,
            "`expiry_secs` must be a whole number of seconds above zero".to_owned(),
        );
    }
    if let Some(leeway) = &c.leeway_secs
        && let Err(problem) = check_leeway(leeway.value)
    {
        fail(leeway.span, format!("invalid `leeway_secs`: {problem}"));
    }
    if !matches!(item.fields, syn::Fields::Unit) || !item.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &item.ident,
            "`#[login_config]` goes on a unit struct: `struct Auth;`",
        ));
    }
    errors.finish()
}

const SHAPE: &str = "a unit struct, as in `struct Auth;`";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let item = placement::structure(item, "login_config", SHAPE)?;
    let config = parse(args)?;
    check(&config, &item)?;

    let rt = Paths::new(config.krate.as_ref()).private();
    let mut calls = Vec::new();
    match &config.secret {
        Some(Secret::Literal(s)) => calls.push(quote!(.secret(#s))),
        Some(Secret::Env(var)) => calls.push(quote!(.secret_from_env(#var))),
        None => {}
    }
    match &config.private_keys {
        Some((PrivateKeys::Files(files), _)) => {
            // Compiled in from the crate's own directory: the file the check above read.
            let pems = files.iter().map(|f| {
                if std::path::Path::new(&f.value()).is_absolute() {
                    quote!(::core::include_bytes!(#f).as_slice())
                } else {
                    quote!(
                        ::core::include_bytes!(::core::concat!(::core::env!("CARGO_MANIFEST_DIR"), "/", #f))
                            .as_slice()
                    )
                }
            });
            calls.push(quote!(.private_keys_pem([#(#pems),*])));
        }
        Some((PrivateKeys::Env(var), _)) => calls.push(quote!(.private_keys_from_env(#var))),
        None => {}
    }
    if let Some(alg) = &config.algorithm {
        let alg = Ident::new(&alg.value(), alg.span());
        calls.push(quote!(.algorithm(#rt::Algorithm::#alg)));
    }
    if let Some(url) = &config.token_url {
        calls.push(quote!(.token_url(#url)));
    }
    if let Some(header) = &config.header {
        calls.push(quote!(.header(#header)));
    }
    if let Some((name, _)) = &config.cookie {
        calls.push(quote!(.cookie(#name)));
    }
    if let Some(secs) = &config.expiry_secs {
        let secs = secs.value;
        calls.push(quote!(.expiry(#rt::Duration::from_secs(#secs))));
    }
    if let Some(secs) = &config.leeway_secs {
        let secs = secs.value;
        calls.push(quote!(.leeway(#rt::Duration::from_secs(#secs))));
    }
    if let Some(iss) = &config.issuer {
        calls.push(quote!(.issuer(#iss)));
    }
    if let Some(aud) = &config.audience {
        calls.push(quote!(.audience(#aud)));
    }
    if let Some(secure) = &config.secure_cookies {
        calls.push(quote!(.secure_cookies(#secure)));
    }
    let name = &item.ident;
    Ok(quote! {
        #item

        impl #name {
            /// A builder preloaded with this configuration; add what is known only at run time.
            #[allow(dead_code)]
            pub fn builder() -> #rt::LoginManagerBuilder {
                #rt::LoginManager::builder() #(#calls)*
            }

            /// Builds the manager; fails with an error naming the setting when a run-time value
            /// (an environment variable) is wrong.
            #[allow(dead_code)]
            pub fn manager() -> #rt::Result<#rt::LoginManager, #rt::ConfigError> {
                Self::builder().build()
            }
        }
    })
}

/// The struct as written with the `builder()` and `manager()` the expansion gives it, so code that
/// calls them adds no "no function `manager` found" error to the configuration's one.
pub(crate) fn fallback(args: &TokenStream, item: TokenStream) -> TokenStream {
    let Ok(item) = syn::parse2::<ItemStruct>(item.clone()) else {
        return item;
    };
    let rt = Paths::lenient(args).private();
    let name = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    quote! {
        #item

        #[allow(dead_code)]
        impl #impl_generics #name #ty_generics #where_clause {
            pub fn builder() -> #rt::LoginManagerBuilder {
                #rt::macro_failed()
            }

            pub fn manager() -> #rt::Result<#rt::LoginManager, #rt::ConfigError> {
                #rt::macro_failed()
            }
        }
    }
}
