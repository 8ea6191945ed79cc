//! The one path table: generated code reaches the runtime only through [`Paths::private`],
//! `<root>::__private`, where `<root>` is `::login_runtime` or the path given by `crate = path`
//! (a renamed or re-exported `login-runtime`, as serde's `#[serde(crate = "..")]`).

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};

/// Where the runtime is, as the macro's arguments say.
pub(crate) struct Paths {
    root: TokenStream,
}

impl Paths {
    /// `::login_runtime`, or `krate` when the attribute says `crate = krate`.
    pub(crate) fn new(krate: Option<&syn::Path>) -> Self {
        let root = krate.map_or_else(|| quote!(::login_runtime), ToTokens::to_token_stream);
        Self { root }
    }

    /// The same, read from arguments that may not parse: the stand-ins emitted beside an error
    /// use it, so a wrong argument elsewhere does not also break the paths.
    pub(crate) fn lenient(args: &TokenStream) -> Self {
        let tokens: Vec<TokenTree> = args.clone().into_iter().collect();
        let at_crate = |i: usize| {
            matches!(&tokens[i], TokenTree::Ident(id) if id == "crate")
                && (i == 0 || matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == ','))
                && matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '=')
        };
        let path = (0..tokens.len()).find(|&i| at_crate(i)).and_then(|i| {
            let value: TokenStream = tokens[i + 2..]
                .iter()
                .take_while(|t| !matches!(t, TokenTree::Punct(p) if p.as_char() == ','))
                .cloned()
                .collect();
            syn::parse2::<syn::Path>(value).ok()
        });
        Self::new(path.as_ref())
    }

    /// `<root>::__private`, the runtime's hidden module of everything expansions call.
    pub(crate) fn private(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::__private)
    }

    /// The same path with every token at `span`, for code inside `quote_spanned!`: rustc then
    /// points at the user's token for an error in it (a bound "introduced here"), and reports
    /// errors that share the span once.
    pub(crate) fn private_at(&self, span: Span) -> TokenStream {
        respan(self.private(), span)
    }
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            }
            token.set_span(span);
            token
        })
        .collect()
}
