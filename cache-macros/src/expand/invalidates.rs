//! `#[invalidates]`: run the function, then, if it succeeded, invalidate.

use super::{cache_handle, expand_fn, key_parts};
use crate::args::InvalidatesArgs;
use crate::check;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, ReturnType, Type};

/// Expands `#[invalidates(attr)] item`.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_fn::<InvalidatesArgs>("invalidates", attr, item, generate)
}

fn generate(args: InvalidatesArgs, func: &ItemFn) -> syn::Result<TokenStream> {
    let sig = &func.sig;
    check::invalidates(&args, sig)?;
    // Whether the output is a `Result` comes from its concrete type (an alias of `Result`
    // is one), probed in the generated code, unless `result = ...` says.
    let succeeded = match (check::returns_result(args.result.as_ref()), &sig.output) {
        (Some(true), _) => quote!(::core::result::Result::is_ok(&__cache_out)),
        (Some(false), _) => quote!(true),
        (None, ReturnType::Type(_, ty)) if !matches!(**ty, Type::ImplTrait(_)) => quote! {{
            #[allow(unused_imports)]
            use ::cache_core::__private::{PickOption as _, PickResult as _, PickValue as _};
            (&&::cache_core::__private::Probe::<#ty, false, true>::new())
                .pick()
                .succeeded(&__cache_out)
        }},
        (None, _) => quote!(true),
    };
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
    let prefixes = &args.prefixes;
    let parts = key_parts(args.scope.as_ref(), &[], &args.tags);
    let handle = cache_handle(args.cache.as_ref());
    let (attrs, vis) = (&func.attrs, &func.vis);
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #parts
            #handle
            let __cache_out = #body;
            if #succeeded {
                ::cache_core::__private::invalidate(__cache_handle, &[#(#prefixes),*], &__cache_parts).await;
            }
            __cache_out
        }
    })
}
