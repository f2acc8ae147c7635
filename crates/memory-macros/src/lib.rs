//! The `#[cache]` attribute of parmemo: memoize a function in a `parmemo_memory::Memory`.
//!
//! # Brief overview
//!
//! `#[cache(MEMORY)]` on a function stores its results in the `Memory` named by
//! `MEMORY` (a `static`, usually a `LazyLock<Memory>`), keyed by the function's identity
//! and its arguments; `#[cache(MEMORY, ignore = [log])]` leaves parameters out of the key.
//! A function that returns `Result` (`Result<T, E>`, `io::Result<T>`, any path ending in
//! `Result`) stores only its `Ok` values, as joblib never stores an exception;
//! `#[cache(MEMORY, errors = true)]` stores the `Err` too. When the function's code
//! changes, its first stored result removes the entries of its earlier versions, as
//! joblib does; `#[cache(MEMORY, keep_versions)]` keeps them (a cache two builds share on
//! purpose). Beside the function it
//! generates `name::cache()`, a handle to the function's own entries (`clear`, `len`,
//! `check_call_in_cache`, `call_and_shelve`, `call`), whose keyed parameters take the
//! value or a borrow of it (`impl parmemo_memory::Argument<T>`: `&[f32]` for a
//! `Vec<f32>`, `&str` for a `String`), hashed alike.
//!
//! The macro only turns syntax into calls on `parmemo-memory`: hashing, storage and
//! the failure policy live there. It rejects what it cannot cache (no return value,
//! methods, `async`, generics, patterns as parameters, unknown options) with an error at
//! the offending span.
//!
//! # Example
//!
//! ```
//! use parmemo_macros::cache;
//! use parmemo_memory::Memory;
//! use std::sync::LazyLock;
//!
//! // A directory of your choice; here a temporary one.
//! static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
//! static MEMORY: LazyLock<Memory> = LazyLock::new(|| Memory::new(DIR.path()));
//!
//! #[cache(MEMORY, ignore = [verbose])]
//! fn total(values: &[u64], verbose: bool) -> u64 {
//!     if verbose {
//!         println!("summing {} values", values.len());
//!     }
//!     values.iter().sum()
//! }
//!
//! assert_eq!(total(&[1, 2, 3], true), 6);
//! assert_eq!(total(&[1, 2, 3], false), 6); // same key: `verbose` is ignored
//! assert!(total::cache().check_call_in_cache(&[1, 2, 3], false));
//! # std::fs::remove_dir_all(DIR.path()).ok();
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod expand;
mod options;

use proc_macro::TokenStream;

/// Memoizes a function in a `Memory`: `#[cache(MEMORY)]`, with options
/// `ignore = [param, ...]`, `errors = true`, `expires_after = DURATION`,
/// `validate = fn_path` and `keep_versions`.
///
/// The function keeps its signature. Its arguments must implement `serde::Serialize`
/// (borrowed or owned; ignored ones need not) and its result `Serialize` and
/// `DeserializeOwned`. `name::cache()` returns a handle to the function's entries.
///
/// The key includes a hash of the function's tokens, so editing its body or signature
/// starts afresh, while editing a comment or doc comment does not.
#[proc_macro_attribute]
pub fn cache(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = syn::parse_macro_input!(attr as options::Options);
    let function = syn::parse_macro_input!(item as syn::ItemFn);
    expand::expand(&options, function)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
