//! The attribute's arguments: the memory, then optional `key = value` options.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, Expr, Ident, LitBool, Path, Token};

/// `MEMORY`, then optionally `ignore = [a, b]`, `errors = true`,
/// `expires_after = DURATION`, `validate = PATH` and `keep_versions`.
pub(crate) struct Options {
    pub(crate) memory: Path,
    pub(crate) ignore: Vec<Ident>,
    /// Store a `Result`'s `Err` too (off: failures are computed again, as joblib does).
    pub(crate) errors: bool,
    /// How long a stored result stays valid: a `const` expression of type `Duration`.
    pub(crate) expires_after: Option<Expr>,
    /// A `fn(&EntryMeta) -> bool` deciding whether a stored result may answer a call.
    pub(crate) validate: Option<Path>,
    /// Keep the entries of the function's other code versions (off: the first store of a
    /// new version removes them, as joblib clears a changed function).
    pub(crate) keep_versions: bool,
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
        let mut expires_after = None;
        let mut validate = None;
        let mut keep_versions = false;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let option: Ident = input.parse()?;
            if option == "keep_versions" {
                // A flag, or `keep_versions = false` to say the default out loud.
                keep_versions = if input.peek(Token![=]) {
                    input.parse::<Token![=]>()?;
                    input.parse::<LitBool>()?.value
                } else {
                    true
                };
                continue;
            }
            input.parse::<Token![=]>()?;
            if option == "ignore" {
                let content;
                bracketed!(content in input);
                let names: Punctuated<Ident, Token![,]> =
                    content.parse_terminated(Ident::parse, Token![,])?;
                ignore.extend(names);
            } else if option == "errors" {
                errors = input.parse::<LitBool>()?.value;
            } else if option == "expires_after" {
                expires_after = Some(input.parse::<Expr>()?);
            } else if option == "validate" {
                validate = Some(input.parse::<Path>()?);
            } else {
                return Err(syn::Error::new_spanned(
                    &option,
                    format!(
                        "unknown option `{option}`: the options are `ignore = [parameter, ...]`, \
                         `errors = true` (store a Result's Err too), `expires_after = DURATION`, \
                         `validate = fn_path` and `keep_versions` (keep the entries of the \
                         function's earlier code versions)"
                    ),
                ));
            }
        }
        Ok(Options {
            memory,
            ignore,
            errors,
            expires_after,
            validate,
            keep_versions,
        })
    }
}
