//! `#[invalidates]`: run the function, then, if it succeeded, invalidate.

use super::{FromResult, cache_handle, expand_fn, key_parts, through_call};
use crate::args::{InvalidatesArgs, KeyValue};
use crate::check::{self, Output};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

/// Expands `#[invalidates(attr)] item`.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_fn::<InvalidatesArgs>("invalidates", attr, item, generate)
}

fn generate(args: InvalidatesArgs, func: &ItemFn) -> syn::Result<TokenStream> {
    let check::Invalidates {
        args,
        func,
        output,
        forced,
    } = check::invalidates(args, func)?;
    let func = &func;
    let sig = &func.sig;
    // Whether the output is a `Result` comes from its concrete type (an alias of `Result`
    // is one), probed in the generated code, unless `result = ...` says. An `impl Trait`
    // output cannot be named: it succeeds, unless `result = true`.
    let output = match &output {
        Output::Opaque => None,
        Output::Named(ty) => Some(quote!(#ty)),
        Output::Unit => Some(quote!(())),
    };
    let (mode, succeeded) = match (&output, forced) {
        (Some(ty), Some(true)) => (
            quote! { let __cache_mode = ::cache_core::__private::ResultMode::<#ty>::new(); },
            quote!(__cache_mode.succeeded(&__cache_out)),
        ),
        (Some(ty), forced) => {
            let as_result = forced.is_none();
            (
                quote! {
                    #[allow(unused_imports)]
                    use ::cache_core::__private::{PickOption as _, PickResult as _, PickValue as _};
                    let __cache_mode =
                        (&&::cache_core::__private::Probe::<#ty, false, #as_result>::new()).pick();
                },
                quote!(__cache_mode.succeeded(&__cache_out)),
            )
        }
        (None, Some(true)) => (
            quote!(),
            quote!(::core::result::Result::is_ok(&__cache_out)),
        ),
        (None, _) => (quote!(), quote!(true)),
    };
    // Each target's key parts, from the arguments before the body (`__cache_target_<i>`);
    // keys and tags from the result added once the body succeeded.
    let mut parts = Vec::new();
    let mut from_result = Vec::new();
    let mut pairs = Vec::new();
    for (i, target) in args.targets.iter().enumerate() {
        let var = format_ident!("__cache_target_{}", i);
        let scope = match &target.scope {
            Some(KeyValue::Arg(key)) => Some(key),
            _ => None, // from the result: added after the body
        };
        let built = key_parts(scope, &[], &target.tags, FromResult::AfterBody);
        parts.push(quote! { let #var = #built; });
        let scope = match &target.scope {
            Some(KeyValue::Result(closure)) => Some(quote! {
                #var.scope(&::cache_core::__private::apply(__cache_ok, #closure));
            }),
            _ => None,
        };
        let tags: Vec<TokenStream> = target
            .tags
            .iter()
            .filter_map(|tag| match &tag.value {
                KeyValue::Result(closure) => {
                    let name = tag.name.to_string();
                    Some(quote! {
                        #var.tag(#name, &::cache_core::__private::apply(__cache_ok, #closure));
                    })
                }
                KeyValue::Arg(_) => None,
            })
            .collect();
        if scope.is_some() || !tags.is_empty() {
            from_result.push(quote! {
                #[allow(unused_mut)]
                let mut #var = #var;
                if let ::core::option::Option::Some(__cache_ok) = __cache_mode.ok(&__cache_out) {
                    #scope
                    #(#tags)*
                }
            });
        }
        // Each prefix typed where it is written: a constant of another type is an error
        // on it.
        let prefixes = target.prefixes.iter().map(|prefix| {
            quote_spanned! {prefix.span()=> { let __cache_prefix: &str = #prefix; __cache_prefix } }
        });
        pairs.push(quote! { (&[#(#prefixes),*][..], &#var) });
    }
    // `when`: nothing changed, nothing to invalidate.
    let changed = args.when.as_ref().map(|when| {
        quote! {
            && __cache_mode
                .ok(&__cache_out)
                .is_none_or(|__cache_ok| ::cache_core::__private::apply(__cache_ok, #when))
        }
    });
    // Pin the body's type so that `?` and `return` inside it infer as in the original.
    let block = &func.block;
    let body = match &output {
        Some(ty) => quote! { async move { let __cache_ret: #ty = #block; __cache_ret }.await },
        None => quote! { async move #block.await },
    };
    let handle = cache_handle(args.cache.as_ref());
    let (attrs, vis) = (&func.attrs, &func.vis);
    // `write_through`: the read's generations before the body, its entry stored after.
    let (capture, invalidate) = match &args.write_through {
        Some(call) => {
            let through = through_call(call);
            (
                quote! {
                    let __cache_through = #through;
                    let __cache_captured =
                        ::cache_core::__private::capture(&__cache_handle, __cache_through).await;
                },
                quote_spanned! {call.span()=>
                    ::cache_core::__private::invalidate_through(
                        __cache_handle,
                        &[#(#pairs),*],
                        __cache_captured,
                        &__cache_out,
                    )
                    .await;
                },
            )
        }
        None => (
            quote!(),
            quote! {
                ::cache_core::__private::invalidate(__cache_handle, &[#(#pairs),*]).await;
            },
        ),
    };
    let record = super::record::writes(&args, sig);
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #record
            #(#parts)*
            #handle
            #capture
            #mode
            let __cache_out = #body;
            if #succeeded #changed {
                #(#from_result)*
                #invalidate
            }
            __cache_out
        }
    })
}
