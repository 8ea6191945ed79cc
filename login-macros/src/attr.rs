//! Argument parsing shared by the macros: one loop over `key`, `key = value`, `key(..)`, with
//! "unknown argument … expected one of" and "specified more than once" errors.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;

/// The argument every macro takes: `crate = path::to::login_runtime`.
pub(crate) const CRATE: &str = "crate = path::to::login_runtime";

/// Parses `args` with `on_arg`, which returns `Ok(false)` for a key it does not know. `crate = path`
/// is handled here for every macro; its path is returned.
pub(crate) fn parse_args(
    args: TokenStream,
    macro_name: &str,
    valid: &[&str],
    mut on_arg: impl FnMut(&str, &ParseNestedMeta) -> syn::Result<bool>,
) -> syn::Result<Option<syn::Path>> {
    let mut seen: Vec<String> = Vec::new();
    let mut krate = None;
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        if seen.contains(&key) {
            return Err(meta.error(format!("`{key}` is specified more than once: keep one")));
        }
        if key == "crate" {
            krate = Some(parse_crate(&meta)?);
        } else if !on_arg(&key, &meta)? {
            let name = if key.is_empty() {
                quote::ToTokens::to_token_stream(&meta.path).to_string()
            } else {
                key
            };
            let hint = did_you_mean(&name, valid).map(|k| format!("; did you mean `{k}`?"));
            return Err(meta.error(format!(
                "unknown argument `{name}` to `#[{macro_name}]`{}\nexpected one of: {}",
                hint.unwrap_or_default(),
                valid.join(", ")
            )));
        }
        seen.push(key);
        Ok(())
    });
    parser.parse2(args)?;
    Ok(krate)
}

/// `crate = my_auth`: a path, unquoted. serde and tokio take a string; one form is accepted, and
/// the other gets an error that says how to write it.
fn parse_crate(meta: &ParseNestedMeta) -> syn::Result<syn::Path> {
    let value = meta.value()?;
    if value.peek(syn::LitStr) {
        let lit: syn::LitStr = value.parse()?;
        return Err(syn::Error::new_spanned(
            &lit,
            format!("write the path without quotes: `crate = {}`", lit.value()),
        ));
    }
    value.parse()
}

/// The valid key closest to a misspelt `name` (`scope` → `scopes`, `expiry` → `expiry_secs`).
fn did_you_mean<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    let key = |v: &'a str| {
        v.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or(v)
    };
    valid
        .iter()
        .map(|v| key(v))
        .filter(|k| k.starts_with(name) || name.starts_with(k) || edit_distance(name, k) <= 2)
        .min_by_key(|k| edit_distance(name, k))
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Tokens as a person writes them, for messages: `Path<u32>`, not `Path < u32 >`.
pub(crate) fn display(tokens: &impl quote::ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" : ", ": "),
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        ("& ", "&"),
        (" ,", ","),
        ("( ", "("),
        (" )", ")"),
        ("# [", "#["),
        ("[ ", "["),
        (" ]", "]"),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// Merges errors so they are all shown at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn push_result<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, display};

    #[test]
    fn displays_types_as_written() {
        let ty: syn::Type = syn::parse_quote!(Option<axum::extract::Path<(u32, String)>>);
        assert_eq!(display(&ty), "Option<axum::extract::Path<(u32, String)>>");
        let arg: syn::FnArg = syn::parse_quote!(#[user] user: &User);
        assert_eq!(display(&arg), "#[user] user: &User");
    }

    #[test]
    fn suggests_the_closest_valid_key() {
        let valid = [
            "optional",
            "scopes(\"..\", ..)",
            "expiry_secs = N",
            "state = StateType",
        ];
        assert_eq!(did_you_mean("scope", &valid), Some("scopes"));
        assert_eq!(did_you_mean("optinal", &valid), Some("optional"));
        assert_eq!(did_you_mean("expiry", &valid), Some("expiry_secs"));
        assert_eq!(did_you_mean("header", &valid), None);
    }
}
