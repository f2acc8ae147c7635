//! The attribute's arguments: the memory, then optional `key = value` options.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, Ident, Path, Token};

/// `MEMORY` or `MEMORY, ignore = [a, b]`.
pub(crate) struct Options {
    pub(crate) memory: Path,
    pub(crate) ignore: Vec<Ident>,
}

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error(
                "name the Memory to cache in: #[cache(MEMORY)], where MEMORY is a static (for example a LazyLock<Memory>)",
            ));
        }
        let memory: Path = input.parse()?;
        let mut ignore = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let option: Ident = input.parse()?;
            if option != "ignore" {
                return Err(syn::Error::new_spanned(
                    &option,
                    format!(
                        "unknown option `{option}`: the only option is `ignore = [parameter, ...]`"
                    ),
                ));
            }
            input.parse::<Token![=]>()?;
            let content;
            bracketed!(content in input);
            let names: Punctuated<Ident, Token![,]> =
                content.parse_terminated(Ident::parse, Token![,])?;
            ignore.extend(names);
        }
        Ok(Options { memory, ignore })
    }
}
