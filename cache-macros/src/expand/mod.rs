//! Code generation. The generated code reaches the runtime only through
//! `::cache_core::__private`.

mod batch;
pub mod cached;
pub mod invalidates;
mod record;

use crate::args::{KeyExpr, KeyValue, Prefix, TagArg, ThroughCall};
use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parse;
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemFn};

/// Parse, check, emit: the item must be a function; on a configuration error the
/// function is emitted unchanged beside the error, so one mistake does not cascade into
/// errors at every call site.
fn expand_fn<A: Parse>(
    attribute: &str,
    attr: TokenStream,
    item: TokenStream,
    generate: impl FnOnce(A, &ItemFn) -> syn::Result<TokenStream>,
) -> TokenStream {
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                format!("#[{attribute}] applies to async functions and methods with a body"),
            )
            .to_compile_error();
            return quote! { #error #item };
        }
    };
    match syn::parse2::<A>(attr).and_then(|args| generate(args, &func)) {
        Ok(tokens) => tokens,
        Err(error) => {
            let error = error.to_compile_error();
            quote! { #func #error }
        }
    }
}

impl ToTokens for Prefix {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Prefix::Lit(lit) => lit.to_tokens(tokens),
            Prefix::Path(path) => path.to_tokens(tokens),
        }
    }
}

/// `{ ... }`: the key parts, encoded before the body runs (it may consume the arguments).
pub fn key_parts(
    scope: Option<&KeyExpr>,
    keys: &[KeyExpr],
    tags: &[TagArg],
    from_result: FromResult,
) -> TokenStream {
    let scope = scope.map(|key| {
        let expr = &key.expr;
        quote! { __cache_parts.scope(&#expr); }
    });
    let keys = keys.iter().map(|key| {
        let expr = &key.expr;
        quote! { __cache_parts.arg(&#expr); }
    });
    let tags = tags.iter().filter_map(|tag| {
        let name = tag.name.to_string();
        match (&tag.value, from_result) {
            (KeyValue::Arg(value), _) => {
                let expr = &value.expr;
                Some(quote! { __cache_parts.tag(#name, &#expr); })
            }
            (KeyValue::Result(_), FromResult::Indexed) => {
                Some(quote! { __cache_parts.result_tag(#name); })
            }
            (KeyValue::Result(_), FromResult::AfterBody) => None,
        }
    });
    quote! {
        {
            #[allow(unused_mut)]
            let mut __cache_parts = ::cache_core::__private::KeyParts::new();
            #scope
            #(#keys)*
            #(#tags)*
            __cache_parts
        }
    }
}

/// What becomes of the tags whose values come from the result.
#[derive(Clone, Copy)]
pub enum FromResult {
    /// `#[cached]`: declared before the load, indexed after it.
    Indexed,
    /// `#[invalidates]`: added once the body has returned.
    AfterBody,
}

/// `|value, index| ...`: the closure that lists what a `#[cached]` value depends on, for
/// its result tags (it captures nothing); `None` without any.
pub fn indexer(tags: &[TagArg]) -> Option<TokenStream> {
    let adds: Vec<TokenStream> = tags
        .iter()
        .filter_map(|tag| {
            let KeyValue::Result(closure) = &tag.value else {
                return None;
            };
            let name = tag.name.to_string();
            Some(quote_spanned! {closure.span()=>
                __cache_index.add(#name, ::cache_core::__private::from_value(__cache_value, #closure));
            })
        })
        .collect();
    (!adds.is_empty()).then(|| quote! { |__cache_value, __cache_index| { #(#adds)* } })
}

/// `let __cache_handle = ...;`: the explicit cache, or the installed one.
pub fn cache_handle(cache: Option<&Expr>) -> TokenStream {
    match cache {
        Some(expr) => quote! { let __cache_handle = ::cache_core::__private::explicit(&(#expr)); },
        None => quote! { let __cache_handle = ::cache_core::__private::installed(); },
    }
}

#[cfg(test)]
mod tests;

/// The hidden sibling that `#[cached(write_through = true)] fn name` emits and
/// `write_through = name(...)` calls: `__cache_write_through_name`, spanned at `name`.
pub fn through_fn(name: &Ident) -> Ident {
    quote::format_ident!("__cache_write_through_{}", name, span = name.span())
}

/// `write_through = read(args)` as the call of the read's sibling.
///
/// A read without `write_through = true` has no sibling. For a method (`self.get(id)`) or
/// an associated function (`Self::get(id)`), a fallback of the same name, found only when
/// the sibling is not (an inherent item wins over a trait's), makes that an error that
/// names the read and says what to add, on the call: its bound on a marker named after the
/// read never holds. A free function's missing sibling stays a "cannot find function"
/// error (no fallback can rank below a module's own items).
pub fn through_call(call: &ThroughCall) -> TokenStream {
    let (read, args, receiver, call) = match call {
        ThroughCall::Method(call) => {
            let mut call = call.clone();
            let read = call.method.clone();
            call.method = through_fn(&call.method);
            (
                read,
                call.args.len(),
                quote!(&self,),
                call.to_token_stream(),
            )
        }
        ThroughCall::Path(call) => {
            let mut call = call.clone();
            let mut read = None;
            if let Expr::Path(path) = &mut *call.func
                && let Some(last) = path.path.segments.last_mut()
            {
                read = Some(last.ident.clone());
                last.ident = through_fn(&last.ident);
            }
            let Some(read) = read else {
                return call.to_token_stream();
            };
            (read, call.args.len(), quote!(), call.to_token_stream())
        }
    };
    let sibling = through_fn(&read);
    let params: Vec<Ident> = (0..args)
        .map(|i| quote::format_ident!("__CacheArg{}", i))
        .collect();
    quote! {
        {
            #[allow(non_camel_case_types, dead_code)]
            struct #read {}
            #[allow(dead_code)]
            trait __CacheNotWriteThrough {
                fn #sibling<__CacheOut, #(#params),*>(#receiver #(_: #params),*)
                    -> ::cache_core::__private::Through<__CacheOut>
                where
                    #read: ::cache_core::__private::WriteThroughRead<__CacheOut>,
                {
                    ::core::unreachable!()
                }
            }
            impl<__CacheSelf: ?Sized> __CacheNotWriteThrough for __CacheSelf {}
            #call
        }
    }
}
