//! The attribute's arguments: the memory, then optional `key = value` options.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, Ident, LitBool, Path, Token};

/// `MEMORY`, then optionally `ignore = [a, b]` and `errors = true`.
pub(crate) struct Options {
    pub(crate) memory: Path,
    pub(crate) ignore: Vec<Ident>,
    /// Store a `Result`'s `Err` too (off: failures are computed again, as joblib does).
    pub(crate) errors: bool,
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
        let mut errors = false;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let option: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            if option == "ignore" {
                let content;
                bracketed!(content in input);
                let names: Punctuated<Ident, Token![,]> =
                    content.parse_terminated(Ident::parse, Token![,])?;
                ignore.extend(names);
            } else if option == "errors" {
                errors = input.parse::<LitBool>()?.value;
            } else {
                return Err(syn::Error::new_spanned(
                    &option,
                    format!(
                        "unknown option `{option}`: the options are `ignore = [parameter, ...]` \
                         and `errors = true` (store a Result's Err too)"
                    ),
                ));
            }
        }
        Ok(Options {
            memory,
            ignore,
            errors,
        })
    }
}
