//! `#[login_config(..)]`: a manager's literal configuration on a unit struct, checked while
//! compiling, expanded into a `builder()` preloaded with it.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Ident, ItemStruct, LitBool, LitInt, LitStr};

use crate::attr::parse_args;
use crate::checks::{check_cookie_name, check_cookie_prefix, check_leeway, check_secret, check_token_url};

const VALID: &[&str] = &[
    "secret = \"..\" | env(\"VAR\")",
    "algorithm = \"HS256\"",
    "token_url = \"/path\"",
    "header = bool",
    "cookie | cookie = \"name\"",
    "expiry_secs = N",
    "leeway_secs = N",
    "issuer = \"..\"",
    "audience = \"..\"",
    "secure_cookies = bool",
];

const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
    "EdDSA",
];

enum Secret {
    Literal(LitStr),
    Env(LitStr),
}

#[derive(Default)]
struct Config {
    secret: Option<Secret>,
    algorithm: Option<LitStr>,
    token_url: Option<LitStr>,
    header: Option<LitBool>,
    cookie: Option<(LitStr, Span)>,
    expiry_secs: Option<LitInt>,
    leeway_secs: Option<LitInt>,
    issuer: Option<LitStr>,
    audience: Option<LitStr>,
    secure_cookies: Option<LitBool>,
}

fn parse(args: TokenStream) -> syn::Result<Config> {
    let mut c = Config::default();
    parse_args(args, "login_config", VALID, |key, meta| {
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
        && expiry.base10_parse::<u64>().map_or(true, |v| v == 0)
    {
        fail(
            expiry.span(),
            "`expiry_secs` must be a whole number of seconds above zero".to_owned(),
        );
    }
    if let Some(leeway) = &c.leeway_secs
        && let Some(secs) = errors.push_result(leeway.base10_parse::<u64>())
        && let Err(problem) = check_leeway(secs)
    {
        errors.push(syn::Error::new(
            leeway.span(),
            format!("invalid `leeway_secs`: {problem}"),
        ));
    }
    if !matches!(item.fields, syn::Fields::Unit) || !item.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &item.ident,
            "`#[login_config]` goes on a unit struct: `struct Auth;`",
        ));
    }
    errors.finish()
}

pub fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let item: ItemStruct = syn::parse2(item)?;
    let config = parse(args)?;
    check(&config, &item)?;

    let rt = quote!(::login_runtime::__private);
    let mut calls = Vec::new();
    match &config.secret {
        Some(Secret::Literal(s)) => calls.push(quote!(.secret(#s))),
        Some(Secret::Env(var)) => calls.push(quote!(.secret_from_env(#var))),
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
        calls.push(quote!(.expiry(#rt::Duration::from_secs(#secs))));
    }
    if let Some(secs) = &config.leeway_secs {
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
