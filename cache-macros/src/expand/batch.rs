//! `#[cached(batch = ids)]`: the function's body becomes the load of the ids that missed.

use super::{FromResult, cache_handle, key_parts};
use crate::args::CachedArgs;
use crate::check::{Batch, Given, Returns};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, Type};

/// The expansion of a batch site: `site` is its static (as a single-id site's), `ret` the
/// function's return type.
pub fn generate(
    args: &CachedArgs,
    func: &ItemFn,
    batch: Batch<'_>,
    site: TokenStream,
    ret: &Type,
    returns: &Returns,
) -> TokenStream {
    let Batch { ids, given } = batch;
    let mode = match (returns, args.result.as_ref().map(|lit| lit.value)) {
        (Returns::Result(_), _) | (_, Some(true)) => {
            quote!(::cache_core::__private::BatchResult::<#ret>::new())
        }
        _ => quote!(::cache_core::__private::BatchValue::<#ret>::new()),
    };
    // The body is given the ids that missed, as a `Vec`, back as the parameter's type.
    let given = match given {
        Given::Slice => quote!(let #ids = &__cache_missing[..];),
        Given::Borrowed(ty) => quote! {
            let __cache_missing: #ty = ::core::iter::FromIterator::from_iter(__cache_missing);
            let #ids = &__cache_missing;
        },
        Given::Owned(ty) => quote! {
            let #ids: #ty = ::core::iter::FromIterator::from_iter(__cache_missing);
        },
    };
    let block = &func.block;
    let local = args
        .l1
        .as_ref()
        .map(|_| quote_spanned!(ret.span()=> .local()));
    let parts = key_parts(
        args.scope.as_ref(),
        &args.keys,
        &args.tags,
        FromResult::Indexed,
    );
    let handle = cache_handle(args.cache.as_ref());
    let (attrs, vis, sig) = (&func.attrs, &func.vis, &func.sig);
    let call = quote_spanned! {ret.span()=>
        ::cache_core::__private::cached_batch(
            #mode,
            &__CACHE_SITE,
            __cache_handle,
            __cache_parts,
            #ids.iter(),
            ::cache_core::__private::BatchOptions::new() #local,
            move |__cache_missing| async move {
                #given
                let __cache_ret: #ret = #block;
                __cache_ret
            },
        )
        .await
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #site
            let __cache_parts = #parts;
            #handle
            #call
        }
    }
}
