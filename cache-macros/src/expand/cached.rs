//! `#[cached]`: the function's body becomes the load of a cache-aside read.

use super::{FromResult, cache_handle, expand_fn, indexer, key_parts, through_fn};
use crate::args::{CachedArgs, Ttl};
use crate::check::{self, Returns};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr};

/// Expands `#[cached(attr)] item`.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_fn::<CachedArgs>("cached", attr, item, generate)
}

fn generate(args: CachedArgs, func: &ItemFn) -> syn::Result<TokenStream> {
    let sig = &func.sig;
    let check::Cached {
        prefix,
        ttl,
        ret,
        returns,
        cache_none,
    } = check::cached(&args, sig)?;
    let batch = check::batch(&args, sig, &returns)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&sig.ident.to_string(), sig.ident.span()));
    let duration = |ttl: &Ttl| match ttl {
        Ttl::Millis(millis, span) => {
            quote_spanned!(*span=> ::core::time::Duration::from_millis(#millis))
        }
        Ttl::Path(path) => quote!(#path),
    };
    let ttl = duration(ttl);
    let l1 = args.l1.as_ref().map(|(_, l1)| {
        let l1 = duration(l1);
        quote!(.with_l1(#l1))
    });
    let fail_safe = args.fail_safe.as_ref().map(|(_, grace)| {
        let grace = duration(grace);
        quote!(.with_fail_safe(#grace))
    });
    let jitter = args
        .jitter
        .as_ref()
        .map(|fraction| quote!(.with_jitter(#fraction)));
    let lease = args.lease.as_ref().map(|(_, lease)| {
        let lease = duration(lease);
        quote!(.with_lease(#lease))
    });
    let timeout = args.timeout.as_ref().map(|(_, timeout)| {
        let timeout = duration(timeout);
        quote!(.with_timeout(#timeout))
    });
    // A soft timeout's read runs in a task of its own (its arguments owned, as checked).
    let entry = match args.timeout {
        Some(_) => quote!(cached_in_task),
        None => quote!(cached),
    };
    let refresh = args
        .refresh
        .as_ref()
        .map(|fraction| quote!(.with_refresh(#fraction)));
    let sensitive = args
        .sensitive
        .as_ref()
        .filter(|lit| lit.value)
        .map(|_| quote!(.sensitive()));
    // A build of cache-core without `encryption` cannot seal: an error on the option.
    let assert_sealing = args.sensitive.as_ref().filter(|lit| lit.value).map(|lit| {
        quote_spanned! {lit.span()=> ::cache_core::__private::assert_sealing::<()>(); }
    });
    let version = args.version.unwrap_or(0);
    // The mode comes from the concrete type (an alias of `Result` is a `Result`), picked
    // by the probe in the generated code; `result = true` names it.
    let forced = args.result.as_ref().map(|lit| lit.value);
    let mode = match forced {
        Some(true) => quote!(::cache_core::__private::ResultMode::<#ret>::new()),
        _ => {
            let as_result = forced.is_none();
            quote! {
                (&&::cache_core::__private::Probe::<#ret, #cache_none, #as_result>::new()).pick()
            }
        }
    };
    // What is stored, where the signature shows it: a type that is not serde is reported
    // there, by the assertion and by the bounds of the call alike.
    let stored = match &returns {
        Returns::Result(ok) => ok.clone(),
        Returns::Option(inner) => Some(inner.clone()),
        Returns::Value => None,
    };
    // The registry's entry (`cache_core::audit`).
    let record = {
        let value = match (&stored, &batch) {
            // A batch site stores each id's value: the map's values.
            (Some(map), Some(_)) => super::record::batch_value(map),
            (None, Some(_)) => super::record::batch_value(ret),
            (Some(ty), None) => quote!(#ty),
            (None, None) => quote!(#ret),
        };
        super::record::read(&args, sig, prefix, &name, &value)
    };
    let block = &func.block;
    let stored_span = stored.as_ref().map_or_else(|| ret.span(), |ty| ty.span());
    let assert_stored = stored.map(|ty| {
        quote_spanned! {stored_span=> ::cache_core::__private::assert_cacheable::<#ty>(); }
    });
    // `check_round_trip = true`: in debug builds, what a hit would return is compared
    // with what the function returned (`PartialEq + Debug` on the value).
    let check = args
        .check_round_trip
        .as_ref()
        .filter(|lit| lit.value)
        .map(|lit| {
            quote_spanned! {lit.span()=>
                #[cfg(debug_assertions)]
                let _ = ::cache_core::__private::check_round_trip(&__cache_check_mode, &__CACHE_SITE, &__cache_check, &__cache_ret);
            }
        });
    let check_handle = check.as_ref().map(|_| {
        quote! {
            let __cache_check = ::core::clone::Clone::clone(&__cache_handle);
            let __cache_check_mode = #mode;
        }
    });
    let body = quote! {
        async move {
            let __cache_ret: #ret = #block;
            #check
            __cache_ret
        }
    };
    let indexer = indexer(&args.tags);
    // What the site does besides its key: an index of its result's dependencies; the
    // cache's in-process tier (`l1`), which asks its value to be `Shareable`, checked at
    // the stored type.
    let indexed = indexer
        .as_ref()
        .map(|indexer| quote_spanned!(stored_span=> .indexed(&#indexer)));
    let local = l1.as_ref().map(|_| quote_spanned!(stored_span=> .local()));
    // Decisions from the value, closures applied to it as `tag(...)`'s are.
    let unless = args.unless.as_ref().map(|closure| {
        quote_spanned! {closure.span()=>
            .unless(&|__cache_value| ::cache_core::__private::apply(__cache_value, #closure))
        }
    });
    let ttl_from = args.ttl_from.as_ref().map(|closure| {
        quote_spanned! {closure.span()=>
            .ttl_from(&|__cache_value| ::cache_core::__private::apply(__cache_value, #closure))
        }
    });
    let call = quote_spanned! {stored_span=>
        ::cache_core::__private::#entry(
            __cache_mode,
            &__CACHE_SITE,
            __cache_handle,
            __cache_parts,
            ::cache_core::__private::ReadOptions::new() #indexed #local #unless #ttl_from,
            #body,
        )
        .await
    };
    let parts = key_parts(
        args.scope.as_ref(),
        &args.keys,
        &args.tags,
        FromResult::Indexed,
    );
    let handle = cache_handle(args.cache.as_ref());
    let (attrs, vis) = (&func.attrs, &func.vis);
    let site = quote! {
        static __CACHE_SITE: ::cache_core::__private::Site =
            ::cache_core::__private::Site::new(#prefix, #name, #ttl, #version)#l1 #sensitive #fail_safe #jitter #refresh #lease #timeout;
    };
    if let Some(batch) = batch {
        let site = quote!(#site #record);
        return Ok(super::batch::generate(
            &args, func, batch, site, ret, &returns,
        ));
    }
    let picks = quote! {
        #[allow(unused_imports)]
        use ::cache_core::__private::{PickOption as _, PickResult as _, PickValue as _};
    };
    // `write_through = true`: a sibling that builds this read's key for a write, taking
    // the same arguments (only `cfg` attributes carry over).
    let sibling = args
        .write_through
        .as_ref()
        .filter(|lit| lit.value)
        .map(|_| {
            // A read indexed by its result indexes a written-through value as a fill.
            let through = match &indexer {
                None => quote! {
                    ::cache_core::__private::Through::new(&__CACHE_SITE, __cache_parts, #mode)
                },
                Some(indexer) => quote! {
                    ::cache_core::__private::Through::indexed(
                        &__CACHE_SITE,
                        __cache_parts,
                        #mode,
                        #indexer,
                    )
                },
            };
            let mut sibling = sig.clone();
            sibling.asyncness = None;
            sibling.ident = through_fn(&sig.ident);
            sibling.output = syn::parse_quote!(-> ::cache_core::__private::Through<#ret>);
            let cfgs = attrs.iter().filter(|attr| attr.path().is_ident("cfg"));
            quote! {
                #(#cfgs)*
                #[doc(hidden)]
                #[allow(unused_variables, unused_mut, clippy::too_many_arguments)]
                #vis #sibling {
                    #site
                    let __cache_parts = #parts;
                    #picks
                    #through
                }
            }
        });
    Ok(quote! {
        #sibling
        #(#attrs)*
        #vis #sig {
            #assert_stored
            #assert_sealing
            #site
            #record
            let __cache_parts = #parts;
            #handle
            #picks
            let __cache_mode = #mode;
            #check_handle
            #call
        }
    })
}
