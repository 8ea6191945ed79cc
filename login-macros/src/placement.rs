//! Where an attribute may go: one error naming the item it was put on and the item it goes on.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{Item, ItemFn, ItemStruct};

/// The item as a function with a body, or one error saying where `#[name]` goes (`shape`).
pub(crate) fn function(item: TokenStream, name: &str, shape: &str) -> syn::Result<ItemFn> {
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => Ok(func),
        Ok(Item::Verbatim(_)) | Err(_) => match syn::parse2::<syn::TraitItemFn>(item.clone()) {
            Ok(func) => Err(syn::Error::new(
                func.sig.fn_token.span(),
                format!("`#[{name}]` goes on {shape}, not on a declaration without a body"),
            )),
            Err(err) => Err(syn::parse2::<Item>(item).map_or(err, |other| misplaced(&other, name, shape))),
        },
        Ok(other) => Err(misplaced(&other, name, shape)),
    }
}

/// The item as a struct, or one error saying where `#[name]` goes (`shape`).
pub(crate) fn structure(item: TokenStream, name: &str, shape: &str) -> syn::Result<ItemStruct> {
    match syn::parse2::<Item>(item)? {
        Item::Struct(s) => Ok(s),
        other => Err(misplaced(&other, name, shape)),
    }
}

fn misplaced(item: &Item, name: &str, shape: &str) -> syn::Error {
    let (what, span) = match item {
        Item::Const(i) => ("a `const`", i.const_token.span()),
        Item::Enum(i) => ("an `enum`", i.enum_token.span()),
        Item::ExternCrate(i) => ("an `extern crate`", i.extern_token.span()),
        Item::Fn(i) => ("a function", i.sig.fn_token.span()),
        Item::ForeignMod(i) => ("an `extern` block", i.abi.span()),
        Item::Impl(i) => ("an `impl` block", i.impl_token.span()),
        Item::Macro(i) => ("a macro", i.mac.path.span()),
        Item::Mod(i) => ("a module", i.mod_token.span()),
        Item::Static(i) => ("a `static`", i.static_token.span()),
        Item::Struct(i) => ("a struct", i.struct_token.span()),
        Item::Trait(i) => ("a trait", i.trait_token.span()),
        Item::TraitAlias(i) => ("a trait alias", i.trait_token.span()),
        Item::Type(i) => ("a type alias", i.type_token.span()),
        Item::Union(i) => ("a union", i.union_token.span()),
        Item::Use(i) => ("a `use`", i.use_token.span()),
        other => ("this item", other.span()),
    };
    syn::Error::new(span, format!("`#[{name}]` goes on {shape}, not on {what}"))
}
