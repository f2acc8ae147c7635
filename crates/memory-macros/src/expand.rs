//! What `#[cache]` turns a function into.

use crate::options::Options;
use proc_macro2::{Span, TokenStream};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::{format_ident, quote};
use std::hash::Hasher;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

/// Where the runtime is: `::parmemo::memory` for users of the facade, or
/// `::parmemo_memory` for those who depend on the crate directly.
fn runtime() -> TokenStream {
    let named = |name: &str| {
        let ident = Ident::new(&name.replace('-', "_"), Span::call_site());
        quote!(::#ident)
    };
    match crate_name("parmemo") {
        Ok(FoundCrate::Name(name)) => {
            let facade = named(&name);
            quote!(#facade::memory)
        }
        Ok(FoundCrate::Itself) => quote!(::parmemo::memory),
        Err(_) => match crate_name("parmemo-memory") {
            Ok(FoundCrate::Name(name)) => named(&name),
            Ok(FoundCrate::Itself) | Err(_) => quote!(::parmemo_memory),
        },
    }
}

/// One parameter of the cached function.
struct Parameter {
    name: Ident,
    ty: Type,
    keyed: bool,
}

fn reject(span: &impl quote::ToTokens, message: &str) -> syn::Error {
    syn::Error::new_spanned(span, message)
}

fn check_signature(function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    if let Some(token) = &sig.asyncness {
        return Err(reject(token, "async functions cannot be cached: cache a synchronous function and call it from the async one"));
    }
    if let Some(token) = &sig.constness {
        return Err(reject(
            token,
            "const functions cannot be cached: a cache reads and writes files at run time",
        ));
    }
    if let Some(token) = &sig.unsafety {
        return Err(reject(
            token,
            "unsafe functions cannot be cached: cache a safe wrapper around the unsafe call",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(reject(
            abi,
            "extern functions cannot be cached: cache a Rust function that calls it",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(reject(&sig.generics, "generic functions cannot be cached: write the cached function for concrete types (each instance needs its own key)"));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(reject(variadic, "variadic functions cannot be cached"));
    }
    if let ReturnType::Default = sig.output {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            "a cached function must return a value: its result is what the cache stores (add `-> T`)",
        ));
    }
    Ok(())
}

fn parameters(function: &ItemFn, options: &Options) -> syn::Result<Vec<Parameter>> {
    let mut parameters = Vec::new();
    for input in &function.sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                return Err(reject(receiver, "methods (`self`) cannot be cached: cache a free function and call it from the method"));
            }
            FnArg::Typed(typed) => {
                let Pat::Ident(pat) = typed.pat.as_ref() else {
                    return Err(reject(&typed.pat, "patterns cannot be parameters of a cached function: bind a name (`point: (f64, f64)`) and destructure it inside"));
                };
                if let Type::ImplTrait(impl_trait) = typed.ty.as_ref() {
                    return Err(reject(impl_trait, "`impl Trait` parameters are generic and cannot be cached: use a concrete type"));
                }
                parameters.push(Parameter {
                    name: pat.ident.clone(),
                    ty: typed.ty.as_ref().clone(),
                    keyed: true,
                });
            }
        }
    }
    for ignored in &options.ignore {
        match parameters.iter_mut().find(|p| p.name == *ignored) {
            Some(parameter) => parameter.keyed = false,
            None => {
                return Err(reject(
                    ignored,
                    &format!("`{ignored}` is not a parameter of `{}`: `ignore` lists parameters to leave out of the cache key", function.sig.ident),
                ));
            }
        }
    }
    Ok(parameters)
}

/// Whether the function returns a `Result` (written `Result<..>` or `path::Result<..>`,
/// aliases such as `io::Result<T>` included), whose `Err` is then not stored.
fn returns_result(result: &Type) -> bool {
    match result {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        Type::Paren(inner) => returns_result(&inner.elem),
        Type::Group(inner) => returns_result(&inner.elem),
        _ => false,
    }
}

/// A hash of the function's tokens without its doc comments (so that documenting it
/// keeps its entries) and of the options (an `ignore` list changes what a key means, and
/// `errors` what an entry holds).
fn code_hash(function: &ItemFn, options: &Options) -> u64 {
    let mut undocumented = function.clone();
    undocumented
        .attrs
        .retain(|attr| !attr.path().is_ident("doc"));
    let ignored: Vec<String> = options.ignore.iter().map(ToString::to_string).collect();
    let mut hasher = twox_hash::XxHash3_64::with_seed(0);
    hasher.write(quote!(#undocumented).to_string().as_bytes());
    hasher.write(ignored.join(",").as_bytes());
    hasher.write(if options.errors {
        b"errors"
    } else {
        b"ok only"
    });
    hasher.finish()
}

/// The identity's optional parts: expiry and validation.
fn validity(options: &Options) -> TokenStream {
    let expires = options
        .expires_after
        .as_ref()
        .map(|lifetime| quote!(.expires_after(#lifetime)));
    let validate = options
        .validate
        .as_ref()
        .map(|validate| quote!(.validated_by(#validate)));
    let keep = options.keep_versions.then(|| quote!(.keeping_versions()));
    quote!(#expires #validate #keep)
}

pub(crate) fn expand(options: &Options, function: ItemFn) -> syn::Result<TokenStream> {
    check_signature(&function)?;
    let parameters = parameters(&function, options)?;
    let runtime = runtime();
    let hash = code_hash(&function, options);

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let name = &sig.ident;
    let name_text = name.to_string();
    let output = &sig.output;
    let ReturnType::Type(_, result) = output else {
        unreachable!("check_signature rejects functions without a result");
    };
    let memory = &options.memory;
    let fallible = !options.errors && returns_result(result);
    // What an entry holds: the `T` of a `Result<T, E>` whose failures are not stored,
    // else the whole result.
    let stored = if fallible {
        quote!(<#result as #runtime::__private::Fallible>::Ok)
    } else {
        quote!(#result)
    };
    let run = if fallible {
        quote!(run_fallible)
    } else {
        quote!(run)
    };
    let validity = validity(options);
    let compute = format_ident!("__parmemo_compute_{}", name);
    let memory_of = format_ident!("__parmemo_memory_of_{}", name);
    let identity = format_ident!("__PARMEMO_FUNCTION_{}", name);
    let handle = format_ident!("__ParmemoCache_{}", name);
    let inputs = &sig.inputs;
    let names: Vec<&Ident> = parameters.iter().map(|p| &p.name).collect();
    let keyed: Vec<&Ident> = parameters
        .iter()
        .filter(|p| p.keyed)
        .map(|p| &p.name)
        .collect();
    let positions: Vec<syn::Index> = (0..keyed.len()).map(syn::Index::from).collect();
    let namespace_doc = format!(
        "The cache of [`{name_text}()`]: `{name_text}::cache()` handles its stored results."
    );
    let span = name.span();
    let handle_items = handle_items(&HandleSpec {
        runtime: &runtime,
        vis: &vis,
        name,
        handle_type: &handle,
        identity: &identity,
        memory_of: &memory_of,
        compute: &compute,
        result,
        fallible,
        parameters: &parameters,
    });

    // Everything is generated beside the function, in its own scope (a module would not
    // see items local to an enclosing function). `name::cache()` works because a braced
    // struct lives only in the type namespace, where it cannot clash with the function.
    Ok(quote::quote_spanned! {span=>
        #(#attrs)*
        #vis #sig {
            // Each argument hashed by the fastest route for its type (see the runtime's
            // `__private` module); the key equals that of the arguments' tuple.
            #[allow(unused_imports)]
            use #runtime::__private::{ViaBulk as _, ViaSerde as _};
            // The borrow is what picks the route: not needless.
            #[allow(clippy::needless_borrow)]
            let __parmemo_parts = (#((&#runtime::__private::KeyArg(&#keyed)).key_part(),)*);
            let __parmemo_call = #runtime::Memory::prepare_parts(
                #memory_of(),
                &#identity,
                &[#(&__parmemo_parts.#positions as &dyn #runtime::__private::KeyPart),*],
            );
            __parmemo_call.#run(move || #compute(#(#names),*))
        }

        #[doc(hidden)]
        #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
        fn #compute(#inputs) #output #block

        #[doc(hidden)]
        #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
        fn #memory_of() -> &'static #runtime::Memory {
            &#memory
        }

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #identity: #runtime::FunctionId =
            #runtime::FunctionId::new(::core::module_path!(), #name_text, #hash)
                // The struct below is named with every enclosing function: two cached
                // functions of one name local to two functions are two functions.
                .within(::core::any::type_name::<#name>)
                .returning::<#stored>()
                #validity;

        // Hidden from the user's rustdoc, where it would read as a type of theirs; the
        // function is what they document, `name::cache()` what they call.
        #[doc = #namespace_doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}

        #[allow(dead_code, clippy::all, clippy::pedantic, clippy::nursery)]
        impl #name {
            /// The handle to the function's stored results.
            #vis fn cache() -> #handle {
                #handle
            }
        }

        #handle_items
    })
}

/// What the typed handle of one cached function is generated from.
struct HandleSpec<'a> {
    runtime: &'a TokenStream,
    vis: &'a syn::Visibility,
    name: &'a Ident,
    handle_type: &'a Ident,
    identity: &'a Ident,
    memory_of: &'a Ident,
    compute: &'a Ident,
    result: &'a Type,
    /// Whether the function's `Result` is stored only when `Ok`.
    fallible: bool,
    parameters: &'a [Parameter],
}

/// How the handle's methods turn their arguments into a key and into the computation's
/// arguments.
struct Plumbing {
    /// The tuple of the keyed arguments' keys: what a call's key is hashed from.
    key: TokenStream,
    /// What the computation receives: a keyed argument made owned (a clone of a borrow),
    /// an ignored one as it came.
    passed: Vec<TokenStream>,
    /// The prepared call, keyed by the arguments' keys; it no longer borrows them.
    prepared: TokenStream,
}

fn plumbing(
    runtime: &TokenStream,
    parameters: &[Parameter],
    memory_of: &Ident,
    identity: &Ident,
) -> Plumbing {
    let keyed: Vec<&Ident> = parameters
        .iter()
        .filter(|p| p.keyed)
        .map(|p| &p.name)
        .collect();
    let passed = parameters
        .iter()
        .map(|p| {
            let name = &p.name;
            if p.keyed {
                quote!(#runtime::Argument::into_argument(#name))
            } else {
                quote!(#name)
            }
        })
        .collect();
    let key = quote!((#(#runtime::Argument::key(&#keyed),)*));
    let prepared = quote! {
        {
            let __parmemo_key = #key;
            #runtime::Memory::prepare(#memory_of(), &#identity, &__parmemo_key)
        }
    };
    Plumbing {
        key,
        passed,
        prepared,
    }
}

/// The handle type `name::cache()` returns, with the function's own parameter types.
fn handle_items(spec: &HandleSpec<'_>) -> TokenStream {
    let HandleSpec {
        runtime,
        vis,
        name,
        handle_type: handle,
        identity,
        memory_of,
        compute,
        result,
        fallible,
        parameters,
    } = spec;
    let (declared, generics) = handle_parameters(runtime, parameters);
    let Plumbing {
        key,
        passed,
        prepared,
    } = plumbing(runtime, parameters, memory_of, identity);
    let handle_doc =
        format!("Operations on the stored results of [`{name}()`], with its own parameter types.");
    let recompute = if *fallible {
        quote!(recompute_fallible)
    } else {
        quote!(recompute)
    };
    let shelve = if *fallible {
        quote! {
            /// Computes (or finds) the result for these arguments and returns a handle
            /// that loads it when needed; a failure is returned, not stored.
            ///
            /// # Errors
            /// When the result cannot be serialized.
            #[allow(clippy::too_many_arguments, clippy::type_complexity)]
            #vis fn call_and_shelve #generics (
                &self,
                #(#declared),*
            ) -> ::core::result::Result<
                ::core::result::Result<
                    #runtime::Shelved<'static, <#result as #runtime::__private::Fallible>::Ok>,
                    <#result as #runtime::__private::Fallible>::Err,
                >,
                #runtime::MemoryError,
            > {
                let __parmemo_call = #prepared;
                __parmemo_call.shelve_fallible(move || #compute(#(#passed),*))
            }
        }
    } else {
        quote! {
            /// Computes (or finds) the result for these arguments and returns a handle
            /// that loads it when needed.
            ///
            /// # Errors
            /// When the result cannot be serialized.
            #[allow(clippy::too_many_arguments)]
            #vis fn call_and_shelve #generics (
                &self,
                #(#declared),*
            ) -> ::core::result::Result<#runtime::Shelved<'static, #result>, #runtime::MemoryError> {
                let __parmemo_call = #prepared;
                __parmemo_call.shelve(move || #compute(#(#passed),*))
            }
        }
    };
    quote::quote_spanned! {name.span()=>
        #[doc = #handle_doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #[derive(Debug, Clone, Copy)]
        #vis struct #handle;

        // Generated code follows the user's lint levels, so it must be clean under any.
        #[allow(dead_code, clippy::all, clippy::pedantic, clippy::nursery)]
        impl #handle {
            /// The function's identity: module, name and a hash of its code.
            #vis fn id(&self) -> &'static #runtime::FunctionId {
                &#identity
            }

            /// The untyped operations on these entries.
            #vis fn function(&self) -> #runtime::CachedFunction<'static> {
                #memory_of().function(&#identity)
            }

            /// Removes every stored result of the function (all code versions); returns
            /// how many.
            ///
            /// # Errors
            /// When the store cannot be opened or written.
            #vis fn clear(&self) -> ::core::result::Result<usize, #runtime::MemoryError> {
                self.function().clear()
            }

            /// How many results of this version of the function are stored.
            ///
            /// # Errors
            /// When the store cannot be opened or listed.
            #vis fn len(&self) -> ::core::result::Result<usize, #runtime::MemoryError> {
                self.function().len()
            }

            /// Whether no result of this version of the function is stored.
            ///
            /// # Errors
            /// When the store cannot be opened or listed.
            #vis fn is_empty(&self) -> ::core::result::Result<bool, #runtime::MemoryError> {
                self.function().is_empty()
            }

            /// Whether a call with these arguments would be answered from the cache. Each
            /// argument may be borrowed (`&[f32]` for a `Vec<f32>`): nothing is cloned.
            #[allow(clippy::too_many_arguments, unused_variables)]
            #vis fn check_call_in_cache #generics (&self, #(#declared),*) -> bool {
                let __parmemo_key = #key;
                self.function().check_call_in_cache(&__parmemo_key)
            }

            #shelve

            /// Computes the result for these arguments again and stores it over the
            /// stored one (a forced refresh); a failure is returned and not stored.
            #[allow(clippy::too_many_arguments)]
            #vis fn call #generics (&self, #(#declared),*) -> #result {
                let __parmemo_call = #prepared;
                __parmemo_call.#recompute(move || #compute(#(#passed),*))
            }
        }
    }
}

/// The lifetime that the elided lifetimes of a parameter's type get in the handle's
/// `impl Argument<T>` parameters, where elision is not allowed.
const HANDLE_LIFETIME: &str = "'__parmemo";

/// Names the elided lifetimes of a type (`&T`, `'_`), leaving function pointer types,
/// which elide on their own, as they are.
struct NameElided {
    named: bool,
}

impl syn::visit_mut::VisitMut for NameElided {
    fn visit_type_reference_mut(&mut self, reference: &mut syn::TypeReference) {
        if reference.lifetime.is_none() {
            reference.lifetime = Some(syn::Lifetime::new(HANDLE_LIFETIME, Span::call_site()));
            self.named = true;
        }
        syn::visit_mut::visit_type_reference_mut(self, reference);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = syn::Lifetime::new(HANDLE_LIFETIME, lifetime.span());
            self.named = true;
        }
    }

    fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}
}

/// How the handle takes each parameter: a keyed one as `impl Argument<T>` (the value or a
/// borrow of it), an ignored one as written. Also the handle methods' generics: the named
/// lifetime, when a keyed type had elided ones.
fn handle_parameters(
    runtime: &TokenStream,
    parameters: &[Parameter],
) -> (Vec<TokenStream>, TokenStream) {
    let mut namer = NameElided { named: false };
    let declared = parameters
        .iter()
        .map(|parameter| {
            let name = &parameter.name;
            let ty = &parameter.ty;
            if parameter.keyed {
                let mut with_lifetimes = ty.clone();
                syn::visit_mut::VisitMut::visit_type_mut(&mut namer, &mut with_lifetimes);
                quote!(#name: impl #runtime::Argument<#with_lifetimes>)
            } else {
                quote!(#name: #ty)
            }
        })
        .collect();
    let lifetime = syn::Lifetime::new(HANDLE_LIFETIME, Span::call_site());
    let generics = if namer.named {
        quote!(<#lifetime>)
    } else {
        quote!()
    };
    (declared, generics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(source: &str, ignore: &[&str]) -> u64 {
        let function: ItemFn = syn::parse_str(source).expect("test sources parse");
        let options = Options {
            memory: syn::parse_str("MEMORY").expect("a path"),
            ignore: ignore
                .iter()
                .map(|name| Ident::new(name, Span::call_site()))
                .collect(),
            errors: false,
            expires_after: None,
            validate: None,
            keep_versions: false,
        };
        code_hash(&function, &options)
    }

    const ORIGINAL: &str = "fn f(x: f64) -> f64 { x * 2.0 }";

    #[test]
    fn an_edited_body_or_signature_is_a_new_function() {
        assert_ne!(
            hash_of(ORIGINAL, &[]),
            hash_of("fn f(x: f64) -> f64 { x * 3.0 }", &[])
        );
        assert_ne!(
            hash_of(ORIGINAL, &[]),
            hash_of("fn f(x: f32) -> f64 { x * 2.0 }", &[])
        );
    }

    #[test]
    fn comments_and_layout_do_not_count() {
        let commented = "/// Doubles.\n/// Twice.\nfn f(x: f64) -> f64 {\n    // the factor\n    x   *   2.0 /* two */\n}";
        assert_eq!(hash_of(ORIGINAL, &[]), hash_of(commented, &[]));
    }

    #[test]
    fn results_are_recognised_by_their_last_segment() {
        for fallible in [
            "Result<u8, String>",
            "std::io::Result<Vec<f64>>",
            "(Result<(), E>)",
        ] {
            let ty: Type = syn::parse_str(fallible).expect("a type");
            assert!(returns_result(&ty), "{fallible}");
        }
        for plain in [
            "Option<u8>",
            "Vec<Result<u8, E>>",
            "(u8, Result<u8, E>)",
            "ResultSet",
        ] {
            let ty: Type = syn::parse_str(plain).expect("a type");
            assert!(!returns_result(&ty), "{plain}");
        }
    }

    #[test]
    fn the_ignore_list_is_part_of_the_identity() {
        let two = "fn g(a: u8, b: u8) -> u8 { a + b }";
        assert_ne!(hash_of(two, &["a"]), hash_of(two, &["b"]));
    }
}
