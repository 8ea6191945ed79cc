//! Argument parsing shared by the macros: one loop over `key`, `key = value`, `key(..)`, with
//! "unknown argument … expected one of" and "specified more than once" errors.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;

/// Parses `args` with `on_arg`, which returns `Ok(false)` for a key it does not know.
pub fn parse_args(
    args: TokenStream,
    macro_name: &str,
    valid: &[&str],
    mut on_arg: impl FnMut(&str, &ParseNestedMeta) -> syn::Result<bool>,
) -> syn::Result<()> {
    let mut seen: Vec<String> = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        if seen.contains(&key) {
            return Err(meta.error(format!("`{key}` is specified more than once")));
        }
        if !on_arg(&key, &meta)? {
            let name = if key.is_empty() {
                quote::ToTokens::to_token_stream(&meta.path).to_string()
            } else {
                key
            };
            return Err(meta.error(format!(
                "unknown argument `{name}` to `#[{macro_name}]`; expected one of: {}",
                valid.join(", ")
            )));
        }
        seen.push(key);
        Ok(())
    });
    parser.parse2(args)
}

/// Merges errors so they are all shown at once.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub fn push_result<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
