//! `#[invalidates]`: run the function, then, if it succeeded, invalidate.

use super::{FromResult, cache_handle, expand_fn, key_parts, through_call};
use crate::args::{InvalidatesArgs, KeyValue};
use crate::check;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType, Type};

/// Expands `#[invalidates(attr)] item`.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_fn::<InvalidatesArgs>("invalidates", attr, item, generate)
}

fn generate(args: InvalidatesArgs, func: &ItemFn) -> syn::Result<TokenStream> {
    let (args, func) = absorb_stacked(args, func)?;
    let func = &func;
    let sig = &func.sig;
    check::invalidates(&args, sig)?;
    // Whether the output is a `Result` comes from its concrete type (an alias of `Result`
    // is one), probed in the generated code, unless `result = ...` says. An `impl Trait`
    // output cannot be named: it succeeds, unless `result = true`.
    let forced = check::returns_result(args.result.as_ref());
    let output = match &sig.output {
        ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)) => None,
        ReturnType::Type(_, ty) => Some(quote!(#ty)),
        ReturnType::Default => Some(quote!(())),
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
    let body = match &sig.output {
        ReturnType::Type(_, ty) if !matches!(**ty, Type::ImplTrait(_)) => {
            let block = &func.block;
            quote! { async move { let __cache_ret: #ty = #block; __cache_ret }.await }
        }
        ReturnType::Type(..) => {
            let block = &func.block;
            quote! { async move #block.await }
        }
        ReturnType::Default => {
            let block = &func.block;
            quote! { async move { let __cache_ret: () = #block; __cache_ret }.await }
        }
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
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
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

/// Folds the `#[invalidates]` attributes stacked below this one into it: their targets
/// join this one's, and one expansion invalidates them all, under one guard. Expanded one
/// inside the other, the outer one's invalidation would start only once the inner one's
/// had finished, and a caller that dropped the future in between (after the body
/// committed) would leave the outer targets neither invalidated nor pending. The options
/// of the whole write (`cache`, `result`, `when`) must agree; one `write_through` at most.
fn absorb_stacked(
    mut args: InvalidatesArgs,
    func: &ItemFn,
) -> syn::Result<(InvalidatesArgs, ItemFn)> {
    let mut func = func.clone();
    let mut kept = Vec::with_capacity(func.attrs.len());
    for attr in std::mem::take(&mut func.attrs) {
        let stacked = attr
            .path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "invalidates");
        if !stacked {
            kept.push(attr);
            continue;
        }
        let inner: InvalidatesArgs = attr.parse_args()?;
        same_option("cache", &args.cache, &inner.cache, &attr)?;
        same_option("result", &args.result, &inner.result, &attr)?;
        same_option("when", &args.when, &inner.when, &attr)?;
        match (&args.write_through, inner.write_through) {
            (Some(_), Some(second)) => {
                return Err(syn::Error::new(
                    second.span(),
                    "one `write_through` per write: stacked #[invalidates] are one invalidation",
                ));
            }
            (None, second) => args.write_through = second,
            (Some(_), None) => {}
        }
        args.targets.extend(inner.targets);
    }
    func.attrs = kept;
    Ok((args, func))
}

/// A write-wide option of a stacked `#[invalidates]` must be the same as the outer one's.
fn same_option<T: quote::ToTokens>(
    name: &str,
    outer: &Option<T>,
    inner: &Option<T>,
    attr: &syn::Attribute,
) -> syn::Result<()> {
    let text = |option: &Option<T>| {
        option
            .as_ref()
            .map(|value| quote::ToTokens::to_token_stream(value).to_string())
    };
    if text(outer) == text(inner) {
        return Ok(());
    }
    Err(syn::Error::new_spanned(
        attr,
        format!(
            "stacked #[invalidates] are one invalidation, so `{name}` must be the same on each (or put the targets in one attribute with target(...) groups)"
        ),
    ))
}
